%% EUnit test of py:connect against callers that really stall between
%% reading the route and sending: the gateway in use (the one the
%% application started) is SIGSTOPped, so callers sending it 4 MiB requests
%% fill the connection and are suspended inside their send by the
%% distribution (busy connection), counted on the route. py:connect then
%% switches to another real gateway while they hang there, and stops the old
%% one once they have sent. Real gateways (`pyactor bridge'), real workers;
%% run through ctest (run_eunit.sh).
-module(py_race_tests).
-include_lib("eunit/include/eunit.hrl").
-import(pyactor_test_lib, [wait_until/2]).

-define(CALLERS, 8).
-define(REQUEST_BYTES, (4 bsl 20)).

setup() ->
    pyactor_test_lib:start_app("pyactor_race", 1, 60000).

cleanup(_) ->
    pyactor_test_lib:stop_app().

race_test_() ->
    {setup, fun setup/0, fun cleanup/1,
     [{"py:connect while callers are suspended mid-send to the old gateway",
       {timeout, 300, fun switch_under_stalled_senders/0}}]}.

switch_under_stalled_senders() ->
    GwA = pyactor_conn:node(),
    OsA = pyactor_conn:gateway_os_pid(), % started by the application: connect stops it
    {GwB, PortB, OsB} = pyactor_test_lib:start_gateway("race_b", ["--workers", "1"]),
    try
        ?assertEqual(OsA, py:func(os, getppid)),
        %% async calls in flight at A before the switch
        Early = [py:async_func(time, sleep, [0.2]) || _ <- [1, 2]],
        Route = persistent_term:get({pyactor, route}),
        GwA = element(2, Route),
        {Senders, Slot} = {element(4, Route), pyactor_route:slot(element(3, Route))},
        ?assertEqual(0, atomics:get(Senders, Slot)),
        "" = os:cmd("kill -STOP " ++ integer_to_list(OsA)),
        Parent = self(),
        Big = binary:copy(<<7>>, ?REQUEST_BYTES),
        Callers = [spawn(fun() ->
                                 Parent ! {answer, self(),
                                           catch_call(fun() ->
                                                              py:func(builtins, len,
                                                                      [{bytes, Big}])
                                                      end)}
                         end) || _ <- lists:seq(1, ?CALLERS)],
        Mons = [{C, erlang:monitor(process, C)} || C <- Callers],
        %% each caller has sent (and waits for its reply) or hangs in its
        %% send; those are exactly the ones counted on the route
        ok = wait_until(fun() ->
                                Sts = [status(C) || C <- Callers],
                                lists:all(fun(S) -> S =:= waiting orelse S =:= suspended end, Sts)
                                    andalso lists:member(suspended, Sts)
                        end, 120000),
        Stalled = [C || C <- Callers, status(C) =:= suspended],
        ?assertEqual(length(Stalled), atomics:get(Senders, Slot)),
        Connector = spawn_link(fun() -> Parent ! {connected, py:connect(GwB)} end),
        %% the new route is out; the switch waits for the stalled senders
        %% before it stops A (pyactor_conn bounds that wait at 5 s: the
        %% checks below come right after the route is seen)
        ok = wait_until(fun() -> pyactor_conn:node() =:= GwB end, 60000),
        ?assertEqual(length(Stalled), atomics:get(Senders, Slot)),
        ?assertEqual([], [C || C <- Stalled, status(C) =/= suspended]),
        ?assert(os_process_alive(OsA)),
        ?assertEqual(nothing, receive {connected, R0} -> {connected, R0} after 0 -> nothing end),
        %% calls made now go to B at once, while A is still stopped
        ?assertEqual(OsB, py:func(os, getppid)),
        ?assertEqual(OsB, py:await(py:async_func(os, getppid, []))),
        "" = os:cmd("kill -CONT " ++ integer_to_list(OsA)),
        receive {connected, Connected} -> ?assertEqual(ok, Connected) end,
        ?assertNot(is_process_alive(Connector)),
        %% connect returned after stopping A: nothing sends on A's route now
        ?assertEqual(0, atomics:get(Senders, Slot)),
        ?assertNot(os_process_alive(OsA)),
        %% every caller got exactly one answer: its result from A, or one
        %% gateway_down (A was stopped while the call was there)
        Answers = [receive {answer, C, A} -> A end || C <- Callers],
        [receive {'DOWN', M, process, C, normal} -> ok end || {C, M} <- Mons],
        ?assertEqual([], [A || A <- Answers, A =/= ?REQUEST_BYTES,
                               A =/= {error, {error, {pyactor, gateway_down}}}]),
        ?assertEqual(nothing, receive {answer, _, _} = Extra -> Extra after 0 -> nothing end),
        ?assertEqual([], [E || E <- [catch_call(fun() -> py:await(R) end) || R <- Early],
                               E =/= undefined, E =/= {error, {error, {pyactor, gateway_down}}}]),
        ?assertEqual(GwB, pyactor_conn:node()),
        ?assertEqual(OsB, py:func(os, getppid))
    after
        _ = os:cmd("kill -CONT " ++ integer_to_list(OsA)),
        catch pyactor_test_lib:stop_gateway(PortB)
    end.

status(Pid) ->
    case process_info(Pid, status) of
        {status, S} -> S;
        undefined -> exited
    end.

os_process_alive(OsPid) ->
    %% a zombie is not alive: its state letter is Z
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat") of
        {ok, Stat} ->
            [_, AfterName] = string:split(Stat, ") ", trailing),
            binary:first(AfterName) =/= $Z;
        {error, _} ->
            false
    end.

catch_call(F) ->
    try F() catch C:E -> {error, {C, E}} end.
