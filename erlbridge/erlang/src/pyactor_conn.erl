%% @doc The connection to a pyactor gateway (a C-node serving `py').
%%
%% Either it starts a gateway as a port program (`pyactor bridge', found
%% through the `pyactor_bin' application variable, $PYACTOR_BIN or PATH) and
%% stops when that program exits, so that `pyactor_sup' starts a fresh one;
%% or it points at a gateway that already runs (`bridge_node' or
%% `py:connect/1'). Calls never pass through this process: callers read the
%% route it publishes (pyactor_route.hrl) and send `$gen_call's to `{py,
%% Node}' themselves, concurrently; asynchronous calls go through the batcher
%% (`pyactor_batcher'), which this process starts, links and restarts, and
%% moves to the new gateway at each `py:connect/1'.
-module(pyactor_conn).
-behaviour(gen_server).

-export([start_link/0, node/0, batcher/1, route/0, connect/1, gateway_os_pid/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-include("pyactor_route.hrl").

%% How long a switch waits for callers that read the old route to finish
%% sending (they take microseconds; this bounds a caller descheduled there).
-define(SENDERS_WAIT_MS, 5000).

-record(state, {port = undefined :: port() | undefined,
                os_pid = undefined :: integer() | undefined,
                batcher = undefined :: pid() | undefined,
                %% senders per generation parity (see pyactor_route.hrl)
                senders :: atomics:atomics_ref(),
                gen = 0 :: non_neg_integer(),
                node :: node()}).

%% @doc Starts the connection process (called by `pyactor_sup').
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Returns the gateway node calls go to; raises `{pyactor, {no_gateway,
%% Why}}' while none is up.
-spec node() -> node().
node() ->
    (route())#pyactor_route.node.

%% @doc The route calls take now (the gateway node, its batcher); raises
%% `{pyactor, {no_gateway, Why}}' while none is up.
-spec route() -> #pyactor_route{}.
route() ->
    case persistent_term:get(?PYACTOR_ROUTE_KEY, undefined) of
        undefined -> erlang:error({pyactor, {no_gateway, no_gateway_text()}});
        Route -> Route
    end.

%% @doc The batcher if `Node' is the gateway in use, else `undefined'
%% (callers then send to `{py, Node}' directly).
-spec batcher(node()) -> pid() | undefined.
batcher(Node) ->
    case persistent_term:get(?PYACTOR_ROUTE_KEY, undefined) of
        #pyactor_route{node = Node, batcher = Pid} -> Pid;
        _ -> undefined
    end.

%% @doc Uses the gateway that runs as `Node' from now on (a gateway this
%% application started is stopped: its calls in flight get one error each).
%% Fails if `Node' does not answer a ping. A call sent before the switch is answered by the
%% gateway it went to, or gets one error; a call sent after goes to `Node'.
-spec connect(node()) -> ok | {error, term()}.
connect(Node) when is_atom(Node), Node =/= undefined ->
    case lists:member($@, atom_to_list(Node)) of
        true -> gen_server:call(?MODULE, {connect, Node}, 60000);
        false -> {error, {bad_node, Node, <<"py:connect/1 takes a node name such as "
                                           "'pyactor@host' (the gateway's --sname or --name)">>}}
    end;
connect(Other) ->
    {error, {bad_node, Other, <<"py:connect/1 takes a node name (an atom such as "
                                "'pyactor@host')">>}}.

%% @doc The OS pid of the gateway this application started, or undefined.
-spec gateway_os_pid() -> integer() | undefined.
gateway_os_pid() ->
    gen_server:call(?MODULE, os_pid).

no_gateway_text() ->
    <<"no pyactor gateway is in use: start the application "
      "(application:ensure_all_started(pyactor)) or call py:connect(Node)">>.

%% -- gen_server ---------------------------------------------------------------

init([]) ->
    process_flag(trap_exit, true),
    State = #state{senders = atomics:new(2, [{signed, true}])},
    case application:get_env(pyactor, bridge_node, undefined) of
        undefined ->
            start_gateway(State);
        Node when is_atom(Node) ->
            case ensure_distributed(Node) of
                ok -> {ok, publish(start_batcher(State#state{node = Node}))};
                {error, Reason} -> {stop, Reason}
            end;
        Bad ->
            {stop, {bad_bridge_node, Bad, <<"the bridge_node application variable must be "
                                            "a node name (an atom such as 'pyactor@host')">>}}
    end.

handle_call({connect, Node}, _From, State = #state{node = Node}) ->
    {reply, ok, State}; % already in use
handle_call({connect, Node}, _From, State) ->
    case ensure_distributed(Node) of
        ok ->
            case catch gen_server:call({py, Node}, ping, 10000) of
                {ok, pong} ->
                    {reply, ok, switch(Node, State)};
                Other ->
                    {reply, {error, {no_gateway, Node, no_answer(Node, Other)}}, State}
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
    persistent_term:erase(?PYACTOR_ROUTE_KEY),
    {stop, {gateway_exited, Status}, State#state{port = undefined, os_pid = undefined}};
handle_info({Port, {data, Line}}, State = #state{port = Port}) ->
    log_output(State#state.node, Line),
    {noreply, State};
handle_info({'EXIT', Port, Reason}, State = #state{port = Port}) ->
    persistent_term:erase(?PYACTOR_ROUTE_KEY),
    {stop, {gateway_exited, Reason}, State#state{port = undefined, os_pid = undefined}};
handle_info({'EXIT', Batcher, Reason}, State = #state{batcher = Batcher}) ->
    %% its callers got errors through their monitors; a fresh one serves on
    logger:warning("pyactor: the batcher of ~p exited (~p); starting a new one",
                   [State#state.node, Reason]),
    {noreply, publish(start_batcher(State#state{batcher = undefined}))};
handle_info(_Info, State) ->
    {noreply, State}.

terminate(_Reason, State) ->
    persistent_term:erase(?PYACTOR_ROUTE_KEY),
    _ = stop_gateway(State),
    ok.

%% -- the route -------------------------------------------------------------------

start_batcher(State = #state{node = Node}) ->
    {ok, Pid} = pyactor_batcher:start_link(Node),
    State#state{batcher = Pid}.

publish(State = #state{node = Node, gen = Gen, senders = Senders, batcher = Batcher}) ->
    persistent_term:put(?PYACTOR_ROUTE_KEY,
                        #pyactor_route{node = Node, gen = Gen, senders = Senders,
                                       batcher = Batcher}),
    State.

%% Moves every caller to `Node': the batcher first (its unsent calls follow
%% it), then the route of synchronous calls; once no caller is still sending
%% on the old route, a gateway this application started is stopped.
switch(Node, State = #state{gen = Gen, senders = Senders}) ->
    ok = pyactor_batcher:switch(State#state.batcher, Node),
    State1 = publish(State#state{node = Node, gen = Gen + 1}),
    ok = wait_senders(Senders, pyactor_route:slot(Gen), ?SENDERS_WAIT_MS),
    stop_gateway(State1).

wait_senders(Senders, Slot, Left) ->
    case atomics:get(Senders, Slot) of
        N when N =< 0 -> ok;
        _ when Left =< 0 -> ok;
        _ -> timer:sleep(1), wait_senders(Senders, Slot, Left - 1)
    end.

no_answer(Node, {'EXIT', {{nodedown, _}, _}}) ->
    iolist_to_binary(io_lib:format("cannot reach node ~p: is `pyactor bridge` running there, "
                                   "with this node's cookie?", [Node]));
no_answer(Node, Other) ->
    iolist_to_binary(io_lib:format("node ~p did not answer a ping as a pyactor gateway "
                                   "(registered name py): ~0tp", [Node, Other])).

%% -- starting and stopping a gateway -------------------------------------------

start_gateway(State) ->
    case find_executable() of
        {ok, Bin} ->
            case ensure_distributed(undefined) of
                ok -> open_gateway(Bin, State);
                {error, Reason} -> {stop, Reason}
            end;
        {error, Reason} ->
            {stop, Reason}
    end.

%% The gateway's stdout and stderr both come here, a line at a time: its
%% `ready NODE' line, then whatever it (or a worker) prints, which goes to
%% the logger (see log_output/2) instead of this node's terminal.
open_gateway(Bin, State) ->
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
                     [{args, Args}, {env, Env}, {line, 4096}, exit_status, use_stdio,
                      stderr_to_stdout, binary]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    Timeout = application:get_env(pyactor, start_timeout, 60000),
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    await_ready(Bin, Port, OsPid, Deadline, Timeout, [], State).

%% Waits for `ready NODE'; keeps the last lines before it for the error.
await_ready(Bin, Port, OsPid, Deadline, Timeout, Seen, State) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {Port, {data, {eol, <<"ready ", NodeName/binary>>}}} ->
            Node = binary_to_atom(NodeName, utf8),
            {ok, publish(start_batcher(State#state{port = Port, os_pid = OsPid, node = Node}))};
        {Port, {data, {_, Line}}} ->
            await_ready(Bin, Port, OsPid, Deadline, Timeout,
                        lists:sublist([Line | Seen], 20), State);
        {Port, {exit_status, Status}} ->
            {stop, {gateway_failed_to_start, Bin, Status, last_lines(Seen)}}
    after Left ->
        _ = stop_gateway(State#state{port = Port, os_pid = OsPid}),
        {stop, {gateway_start_timeout, Bin, Timeout, last_lines(Seen)}}
    end.

last_lines(Seen) ->
    iolist_to_binary(lists:join(<<"\n">>, lists:reverse(Seen))).

%% What the gateway prints once it runs: lines that report a problem are
%% warnings, the rest (start-up notes, what Python code prints) is `info'
%% (hidden at the logger's default level, `notice').
log_output(Node, {Eol, Line}) ->
    Level = case re:run(Line, <<"(?i)error|warning|traceback|fatal|killed|failed">>,
                        [{capture, none}]) of
                match -> warning;
                nomatch -> info
            end,
    logger:log(Level, "pyactor gateway ~p: ~ts~ts",
               [Node, Line, case Eol of noeol -> <<"...">>; eol -> <<>> end],
               #{domain => [pyactor, gateway]}).

%% SIGTERM, then the exit status (up to 8 s), then SIGKILL (pyactor_sup
%% allows 15 s for this; the gateway also exits when its stdin closes).
stop_gateway(State = #state{port = undefined}) ->
    State;
stop_gateway(State = #state{port = Port, os_pid = OsPid}) ->
    _ = os:cmd("kill -TERM " ++ integer_to_list(OsPid)),
    receive
        {Port, {exit_status, _}} -> ok
    after 8000 ->
        _ = os:cmd("kill -KILL " ++ integer_to_list(OsPid)),
        receive {Port, {exit_status, _}} -> ok after 2000 -> ok end,
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
                {error, Reason} ->
                    {error, {pyactor, {cannot_start_distribution, Reason,
                                       iolist_to_binary(
                                         io_lib:format("this node is not distributed and "
                                                       "cannot become ~p (is epmd running? "
                                                       "start it with `epmd -daemon`, or start "
                                                       "erl with -sname NAME)", [Name]))}}}
            end
    end.
