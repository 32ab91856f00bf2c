%% Helpers the EUnit modules share: the application started on a fresh
%% distributed node, gateways started and stopped by hand (by OS pid,
%% recorded for the ctest script's cleanup), and polling for conditions that
%% have no event to wait on.
-module(pyactor_test_lib).
-include_lib("eunit/include/eunit.hrl").
-export([start_app/3, stop_app/0, start_gateway/2, stop_gateway/1, record_os_pid/1,
         busy_workers/0, wait_until/2]).

%% Makes this node distributed as `Prefix_OsPid' and starts the application
%% with `Workers' workers and a default call timeout of `Timeout' ms; its
%% gateway's OS pid is recorded.
start_app(Prefix, Workers, Timeout) ->
    {ok, _} = net_kernel:start([list_to_atom(Prefix ++ "_" ++ os:getpid()), shortnames]),
    ok = case application:load(pyactor) of
             {error, {already_loaded, pyactor}} -> ok; % another suite ran first
             Loaded -> Loaded
         end,
    ok = application:set_env(pyactor, workers, Workers),
    ok = application:set_env(pyactor, timeout, Timeout),
    {ok, _} = application:ensure_all_started(pyactor),
    record_os_pid(pyactor_conn:gateway_os_pid()),
    ok.

%% Undoes `start_app/3'.
stop_app() ->
    _ = application:stop(pyactor),
    net_kernel:stop().

%% Starts `pyactor bridge --sname What_OsPid Args...' and returns its node,
%% port and OS pid once it says it is ready.
start_gateway(What, Args) ->
    Alive = What ++ "_" ++ os:getpid(),
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Port = open_port({spawn_executable, os:getenv("PYACTOR_BIN")},
                     [{args, ["bridge", "--sname", Alive | Args]},
                      {env, [{"PYACTOR_COOKIE", atom_to_list(erlang:get_cookie())}]},
                      {line, 4096}, exit_status, use_stdio, binary]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    record_os_pid(OsPid),
    receive {Port, {data, {eol, <<"ready ", _/binary>>}}} -> ok
    after 60000 -> error(gateway_not_ready)
    end,
    {list_to_atom(Alive ++ "@" ++ Host), Port, OsPid}.

%% Stops a gateway `start_gateway' started: SIGTERM, exit status 0.
stop_gateway(Port) ->
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    "" = os:cmd("kill -TERM " ++ integer_to_list(OsPid)),
    receive {Port, {exit_status, Status}} -> ?assertEqual(0, Status)
    after 60000 -> error(no_exit_after_sigterm)
    end.

%% Appends `Pid' to $PYACTOR_TEST_PIDS, which the ctest script kills at the end.
record_os_pid(Pid) ->
    case os:getenv("PYACTOR_TEST_PIDS") of
        false -> ok;
        File -> ok = file:write_file(File, [integer_to_list(Pid), "\n"], [append])
    end.

%% Workers of the gateway in use with a call in flight.
busy_workers() ->
    length([W || W = #{in_flight := F} <- py:status(), F > 0]).

%% Polls `Check' every 20 ms until it holds, bounded by `Timeout' (ms).
wait_until(Check, Timeout) when Timeout > 0 ->
    case Check() of
        true -> ok;
        false -> timer:sleep(20), wait_until(Check, Timeout - 20)
    end;
wait_until(_Check, _Timeout) ->
    timeout.
