%% @doc The connection to a pyactor gateway (a C-node serving `py').
%%
%% Either it starts a gateway as a port program (`pyactor bridge', found
%% through the `pyactor_bin' application variable, $PYACTOR_BIN or PATH) and
%% stops when that program exits, so that `pyactor_sup' starts a fresh one;
%% or it points at a gateway that already runs (`bridge_node' or
%% `py:connect/1'). Calls never pass through this process: callers send
%% `gen_server:call({py, Node}, ...)' themselves, concurrently; asynchronous
%% calls go through the gateway's batcher (`pyactor_batcher'), which this
%% process starts, links and restarts, one per gateway it uses.
-module(pyactor_conn).
-behaviour(gen_server).

-export([start_link/0, node/0, batcher/1, connect/1, gateway_os_pid/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(NODE_KEY, {pyactor, bridge_node}).
-define(BATCHER_KEY, {pyactor, batcher}).

-record(state, {port = undefined :: port() | undefined,
                os_pid = undefined :: integer() | undefined,
                batcher = undefined :: pid() | undefined,
                node :: node()}).

%% @doc Starts the connection process (called by `pyactor_sup').
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Returns the gateway node calls go to; raises `{pyactor, no_gateway}'
%% while none is up.
-spec node() -> node().
node() ->
    case persistent_term:get(?NODE_KEY, undefined) of
        undefined -> erlang:error({pyactor, no_gateway});
        Node -> Node
    end.

%% @doc The batcher of the gateway `Node' if it is the one in use, else
%% `undefined' (callers then send to `{py, Node}' directly).
-spec batcher(node()) -> pid() | undefined.
batcher(Node) ->
    case persistent_term:get(?BATCHER_KEY, undefined) of
        {Node, Pid} -> Pid;
        _ -> undefined
    end.

%% @doc Uses the gateway that runs as `Node' from now on (a started one is
%% stopped). Fails if it does not answer a ping.
-spec connect(node()) -> ok | {error, term()}.
connect(Node) when is_atom(Node) ->
    gen_server:call(?MODULE, {connect, Node}, 30000).

%% @doc The OS pid of the gateway this application started, or undefined.
-spec gateway_os_pid() -> integer() | undefined.
gateway_os_pid() ->
    gen_server:call(?MODULE, os_pid).

%% -- gen_server ---------------------------------------------------------------

init([]) ->
    process_flag(trap_exit, true),
    case application:get_env(pyactor, bridge_node, undefined) of
        undefined ->
            start_gateway();
        Node when is_atom(Node) ->
            case ensure_distributed(Node) of
                ok ->
                    persistent_term:put(?NODE_KEY, Node),
                    {ok, start_batcher(#state{node = Node})};
                {error, Reason} ->
                    {stop, Reason}
            end
    end.

handle_call({connect, Node}, _From, State) ->
    case ensure_distributed(Node) of
        ok ->
            case catch gen_server:call({py, Node}, ping, 10000) of
                {ok, pong} ->
                    State1 = stop_gateway(retire_batcher(State)),
                    persistent_term:put(?NODE_KEY, Node),
                    {reply, ok, start_batcher(State1#state{node = Node})};
                Other ->
                    {reply, {error, {no_gateway, Node, Other}}, State}
            end;
        Error ->
            {reply, Error, State}
    end;
handle_call(os_pid, _From, State) ->
    {reply, State#state.os_pid, State};
handle_call(Req, _From, State) ->
    {reply, {error, {unknown_call, Req}}, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info({Port, {exit_status, Status}}, State = #state{port = Port}) ->
    logger:warning("pyactor: gateway ~p exited with status ~p", [State#state.node, Status]),
    persistent_term:erase(?NODE_KEY),
    {stop, {gateway_exited, Status}, State#state{port = undefined, os_pid = undefined}};
handle_info({Port, {data, _Line}}, State = #state{port = Port}) ->
    {noreply, State};
handle_info({'EXIT', Port, Reason}, State = #state{port = Port}) ->
    persistent_term:erase(?NODE_KEY),
    {stop, {gateway_exited, Reason}, State#state{port = undefined, os_pid = undefined}};
handle_info({'EXIT', Batcher, Reason}, State = #state{batcher = Batcher}) ->
    %% its callers got errors through their monitors; a fresh one serves on
    logger:warning("pyactor: the batcher of ~p exited (~p); starting a new one",
                   [State#state.node, Reason]),
    {noreply, start_batcher(State#state{batcher = undefined})};
handle_info(_Info, State) ->
    {noreply, State}.

terminate(_Reason, State) ->
    persistent_term:erase(?BATCHER_KEY),
    _ = stop_gateway(State),
    persistent_term:erase(?NODE_KEY),
    ok.

%% -- the batcher -----------------------------------------------------------------

start_batcher(State = #state{node = Node}) ->
    {ok, Pid} = pyactor_batcher:start_link(Node),
    persistent_term:put(?BATCHER_KEY, {Node, Pid}),
    State#state{batcher = Pid}.

%% The old gateway's batcher answers what it carries, then exits.
retire_batcher(State = #state{batcher = undefined}) ->
    State;
retire_batcher(State = #state{batcher = Pid}) ->
    persistent_term:erase(?BATCHER_KEY),
    pyactor_batcher:retire(Pid),
    State#state{batcher = undefined}.

%% -- starting and stopping a gateway -------------------------------------------

start_gateway() ->
    case find_executable() of
        {ok, Bin} ->
            case ensure_distributed(undefined) of
                ok -> open_gateway(Bin);
                {error, Reason} -> {stop, Reason}
            end;
        {error, Reason} ->
            {stop, Reason}
    end.

open_gateway(Bin) ->
    [Alive, Host] = string:split(atom_to_list(erlang:node()), "@"),
    Name = "pyactor_" ++ Alive ++ "_" ++ integer_to_list(erlang:unique_integer([positive])),
    NameFlag = case net_kernel:longnames() of
                   true -> "--name";
                   _ -> "--sname"
               end,
    Args = ["bridge", NameFlag, Name ++ "@" ++ Host, "--exit-with-stdin"]
        ++ workers_args() ++ config_args(),
    Env = [{"PYACTOR_COOKIE", atom_to_list(erlang:get_cookie())}],
    Port = open_port({spawn_executable, Bin},
                     [{args, Args}, {env, Env}, {line, 4096}, exit_status, use_stdio, binary]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    Timeout = application:get_env(pyactor, start_timeout, 60000),
    receive
        {Port, {data, {eol, <<"ready ", NodeName/binary>>}}} ->
            Node = binary_to_atom(NodeName, utf8),
            persistent_term:put(?NODE_KEY, Node),
            {ok, start_batcher(#state{port = Port, os_pid = OsPid, node = Node})};
        {Port, {exit_status, Status}} ->
            {stop, {gateway_failed_to_start, Bin, Status}}
    after Timeout ->
        _ = stop_gateway(#state{port = Port, os_pid = OsPid}),
        {stop, {gateway_start_timeout, Bin, Timeout}}
    end.

%% SIGTERM, then the exit status (up to 10 s), then SIGKILL.
stop_gateway(State = #state{port = undefined}) ->
    State;
stop_gateway(State = #state{port = Port, os_pid = OsPid}) ->
    _ = os:cmd("kill -TERM " ++ integer_to_list(OsPid)),
    receive
        {Port, {exit_status, _}} -> ok
    after 10000 ->
        _ = os:cmd("kill -KILL " ++ integer_to_list(OsPid)),
        catch port_close(Port)
    end,
    State#state{port = undefined, os_pid = undefined}.

find_executable() ->
    Candidates = [application:get_env(pyactor, pyactor_bin, undefined),
                  os:getenv("PYACTOR_BIN", undefined),
                  os:find_executable("pyactor")],
    case [C || C <- Candidates, is_list(C), filelib:is_regular(C)] of
        [Bin | _] -> {ok, Bin};
        [] -> {error, {pyactor, {no_executable,
                                 "cannot find the pyactor executable: set the pyactor_bin "
                                 "application variable or $PYACTOR_BIN, or put it on PATH"}}}
    end.

workers_args() ->
    case application:get_env(pyactor, workers, 0) of
        N when is_integer(N), N > 0 -> ["--workers", integer_to_list(N)];
        _ -> []
    end.

config_args() ->
    case application:get_env(pyactor, config, undefined) of
        File when is_list(File) -> ["--config", File];
        _ -> []
    end.

%% A C-node is only reachable from a distributed node: start distribution
%% (short names, or long ones if the gateway's host has a dot) if it is off.
ensure_distributed(Target) ->
    case erlang:is_alive() of
        true ->
            ok;
        false ->
            Long = is_atom(Target) andalso Target =/= undefined
                andalso lists:member($., lists:last(string:split(atom_to_list(Target), "@"))),
            Name = list_to_atom("pyactor_client_" ++ os:getpid()),
            case net_kernel:start([Name, case Long of true -> longnames; false -> shortnames end]) of
                {ok, _} -> ok;
                {error, {already_started, _}} -> ok;
                {error, Reason} -> {error, {pyactor, {cannot_start_distribution, Reason}}}
            end
    end.
