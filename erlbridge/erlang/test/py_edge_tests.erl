%% EUnit tests of the Erlang client's edges, as a hostile user meets them:
%% gateways switched under busy callers (py:connect), a gateway older than
%% the batch protocol, misused async refs, bad timeouts and names, forged
%% references, huge argument lists, callers that exit at once, and the
%% application stopped under calls. Real gateways (`pyactor bridge'), real
%% workers, real erl peer nodes; run through ctest (run_eunit.sh).
-module(py_edge_tests).
-include_lib("eunit/include/eunit.hrl").
-import(pyactor_test_lib, [stop_gateway/1, record_os_pid/1, busy_workers/0, wait_until/2]).

%% -- fixture -------------------------------------------------------------------

setup() ->
    pyactor_test_lib:start_app("pyactor_edge", 2, 20000).

cleanup(_) ->
    pyactor_test_lib:stop_app().

edge_test_() ->
    {setup, fun setup/0, fun cleanup/1,
     {timeout, 900,
      [{"misused async refs and timeouts", {timeout, 120, fun async_refs/0}},
       {"names: atoms, binaries, strings; bad ones named", {timeout, 120, fun names/0}},
       {"release twice, forged references", {timeout, 120, fun release/0}},
       {"huge argument lists", {timeout, 120, fun huge_arguments/0}},
       {"async callers that exit right after sending", {timeout, 120, fun exit_after_send/0}},
       {"py:connect to the gateway in use, and to bad names", {timeout, 60, fun connect_self/0}},
       {"a node that cannot become distributed", {timeout, 60, fun no_epmd/0}},
       {"blocking calls watch the gateway's node and leave nothing behind",
        {timeout, 120, fun blocking_watch/0}},
       {"the application stopped under calls, started twice, a failed start",
        {timeout, 300, fun stop_under_calls/0}},
       %% these two leave the application on gateways they started (the
       %% one the application started is stopped by the first py:connect)
       {"a gateway older than the batch protocol", {timeout, 180, fun old_gateway/0}},
       {"switching gateways under 16 busy callers", {timeout, 300, fun switch_while_busy/0}}]}}.

%% -- tests -----------------------------------------------------------------------

async_refs() ->
    R = py:async_func(operator, add, [1, 2]),
    ?assertEqual(3, py:await(R)),
    %% twice: a clear error at once, not a 25 s wait for a timeout
    {bad_request, Twice} = bad_request(fun() -> py:await(R) end),
    ?assertNotEqual(nomatch, binary:match(Twice, <<"awaited already">>)),
    %% someone else's ref
    Parent = self(),
    Maker = spawn_link(fun() -> Parent ! {ref, py:async_func(operator, mul, [6, 7])},
                                receive done -> ok end end),
    Other = receive {ref, O} -> O end,
    {bad_request, NotMine} = bad_request(fun() -> py:await(Other) end),
    ?assertNotEqual(nomatch, binary:match(NotMine, <<"another process made it">>)),
    %% not a ref at all: the value is named
    {bad_request, NotRef} = bad_request(fun() -> py:await(make_ref()) end),
    ?assertNotEqual(nomatch, binary:match(NotRef, <<"#Ref<">>)),
    %% bad await timeouts are named; 0 polls; a timed-out await may be repeated
    Slow = py:async_func(time, sleep, [0.3]),
    [begin
         {bad_request, Msg} = bad_request(fun() -> py:await(Slow, T) end),
         ?assertNotEqual(nomatch, binary:match(Msg, iolist_to_binary(io_lib:format("~0tp", [T]))))
     end || T <- [-1, 1.5, soon, "100"]],
    ?assertError({pyactor, timeout}, py:await(Slow, 0)),
    ?assertEqual(undefined, py:await(Slow, infinity)),
    %% the call's own deadline passes: one timeout error, then the ref is spent
    Late = py:async_func(time, sleep, [5], [], [{timeout, 200}]),
    ?assertError({pyactor, timeout}, py:await(Late)),
    ?assertMatch({bad_request, _}, bad_request(fun() -> py:await(Late) end)),
    %% bad call timeouts are named before anything is sent
    [begin
         {bad_request, Msg} = bad_request(fun() -> py:func(operator, add, [1, 2], [],
                                                           [{timeout, T}]) end),
         ?assertNotEqual(nomatch, binary:match(Msg, <<"timeout">>)),
         ?assertNotEqual(nomatch, binary:match(Msg, iolist_to_binary(io_lib:format("~0tp", [T]))))
     end || T <- [0, -5, 2.5, forever, "1000", 1 bsl 32]],
    {bad_request, Huge} = bad_request(fun() -> py:await(py:async_func(operator, add, [1, 2]),
                                                        1 bsl 32) end),
    ?assertNotEqual(nomatch, binary:match(Huge, integer_to_binary(1 bsl 32))),
    %% the ref of that call is still this process's: it may be awaited
    [{{'$pyactor_async', _} = Left, _}] = [KV || {{'$pyactor_async', _}, _} = KV <- get()],
    ?assertEqual(3, py:await({pyactor_async, element(2, Left), 20000})),
    {bad_request, Misspelt} = bad_request(fun() -> py:func(operator, add, [1, 2], [],
                                                           [{timout, 100}]) end),
    ?assertNotEqual(nomatch, binary:match(Misspelt, <<"{timout, 100}: not a call option">>)),
    ?assertMatch({bad_request, _}, bad_request(fun() -> py:map(math, sqrt, not_a_list) end)),
    ?assertEqual(3, py:func(operator, add, [1, 2], [], [{timeout, infinity}])),
    ?assertEqual(3, py:await(py:async_func(operator, add, [1, 2], [], [{timeout, infinity}]))),
    {bad_request, BadOpts} = bad_request(fun() -> py:func(operator, add, [1, 2], [], 5000) end),
    ?assertNotEqual(nomatch, binary:match(BadOpts, <<"5000">>)),
    {bad_request, BadOpt} = bad_request(fun() -> py:func(operator, add, [1, 2], [], [42]) end),
    ?assertNotEqual(nomatch, binary:match(BadOpt, <<"42">>)),
    Maker ! done,
    %% nothing is left over in this process: no async call still booked, no
    %% stray reply
    ?assertEqual([], [K || {{'$pyactor_async', _} = K, _} <- get()]),
    ?assertEqual([], [K || {{'$pyactor_batcher', _} = K, _} <- get()]),
    ?assertEqual({monitors, []}, process_info(self(), monitors)),
    ?assertEqual({messages, []}, process_info(self(), messages)).

names() ->
    ?assertEqual(2.0, py:func(math, sqrt, [4])),
    ?assertEqual(2.0, py:func(<<"math">>, <<"sqrt">>, [4])),
    ?assertEqual(2.0, py:func("math", "sqrt", [4])),
    ?assertEqual(true, py:func("os.path", "isdir", [<<"/tmp">>])),
    {ok, Cwd} = file:get_cwd(),
    ?assertEqual(unicode:characters_to_binary(Cwd), py:func("os.getcwd")),
    ?assertEqual(3.141592653589793, py:const("math", "pi")),
    ?assertEqual(3.141592653589793, py:const("math.pi")),
    ?assertEqual({<<"date">>, {1923, 4, 2}}, py:init("datetime", "date", [1923, 4, 2])),
    ?assertEqual(2.0, py:await(py:async_func("math", "sqrt", [4]))),
    ?assertEqual(3, py:builtin("len", [[1, 2, 3]])),
    ?assertEqual(5, py:operator("add", [2, 3])),
    ?assertEqual(1923, py:attr({<<"date">>, {1923, 4, 2}}, "year")),
    [begin
         {bad_request, Msg} = bad_request(F),
         ?assertNotEqual(nomatch, binary:match(Msg, Shown))
     end || {F, Shown} <- [{fun() -> py:func(42, sqrt, [4]) end, <<"42: the module name">>},
                           {fun() -> py:func(math, {sqrt}, [4]) end, <<"{sqrt}: the function">>},
                           {fun() -> py:func([1000000000], f, []) end, <<"[1000000000]">>},
                           {fun() -> py:func("", f, []) end, <<"[]: the module name">>},
                           {fun() -> py:const(3.5) end, <<"3.5">>},
                           {fun() -> py:attr(1, 7) end, <<"7: the attribute name">>},
                           {fun() -> py:async_func(math, 1, [4]) end, <<"1: the function">>}]].

release() ->
    L = py:func(builtins, list, [[1, 2]], [], [{by_ref, true}]),
    ?assertEqual(1, py:release(L)),
    ?assertEqual(0, py:release(L)),
    %% a well-formed reference to a worker that never was
    ?assertError({pyactor, {stale_ref, _}}, py:release({'$pyactor_ref', 999999, 1, <<"list">>})),
    %% forged shapes: refused before anything is sent, the value named
    [begin
         {bad_request, Msg} = bad_request(fun() -> py:release(Bad) end),
         ?assertNotEqual(nomatch, binary:match(Msg, iolist_to_binary(io_lib:format("~0tp", [Bad]))))
     end || Bad <- [not_a_ref, {'$pyactor_ref', x, y, z}, {'$pyactor_ref', -1, 1, <<"list">>},
                    {'$pyactor_ref', 1, 2}, [L]]],
    ?assertEqual(5, py:add(2, 3)).

huge_arguments() ->
    %% 200,000 positional arguments, and one list of a million items
    ?assertEqual(200000, py:func(builtins, max, lists:seq(1, 200000))),
    ?assertEqual(1000000, py:len(lists:seq(1, 1000000))),
    ?assertEqual(lists:seq(1, 100000), py:func(copy, copy, [lists:seq(1, 100000)])),
    %% (a request over the gateway's 64 MiB: py_tests:adversarial/0)
    ?assertEqual(5, py:add(2, 3)).

exit_after_send() ->
    %% Each caller sends a long call and exits at once (normally, without
    %% awaiting): the batcher cancels the calls, so no worker sits in a 60 s
    %% sleep for nobody, and it keeps nothing of the dead callers.
    ok = wait_until(fun() -> busy_workers() =:= 0 end, 90000),
    Batcher = pyactor_conn:batcher(pyactor_conn:node()),
    Workers = length(py:workers()),
    Pids = [spawn(fun() -> py:async_func(time, sleep, [60], [], [{timeout, 120000}]) end)
            || _ <- lists:seq(1, Workers * 2)],
    Mons = [erlang:monitor(process, P) || P <- Pids],
    [receive {'DOWN', M, process, _, normal} -> ok end || M <- Mons],
    ok = wait_until(fun() -> busy_workers() =:= 0 end, 30000),
    ok = wait_until(fun() -> maps:get(pending, pyactor_batcher:stats(Batcher)) =:= 0 end, 30000),
    ?assertMatch(#{callers := 0}, pyactor_batcher:stats(Batcher)),
    ?assertEqual(42, py:await(py:async_func(operator, add, [40, 2]))).

connect_self() ->
    %% connecting to the gateway in use changes nothing (it used to stop it)
    Node = pyactor_conn:node(),
    OsPid = pyactor_conn:gateway_os_pid(),
    ?assertEqual(ok, py:connect(Node)),
    ?assertEqual(OsPid, pyactor_conn:gateway_os_pid()),
    ?assertEqual(3, py:add(1, 2)),
    ?assertMatch({error, {bad_node, "pyactor@host", _}}, py:connect("pyactor@host")),
    ?assertMatch({error, {bad_node, nohost, _}}, py:connect(nohost)),
    {error, {no_gateway, 'nobody@nowhere', Why}} = py:connect('nobody@nowhere'),
    ?assertNotEqual(nomatch, binary:match(Why, <<"nobody@nowhere">>)),
    ?assertEqual(Node, pyactor_conn:node()).

no_epmd() ->
    %% A plain (not distributed) node whose epmd port has nobody: starting
    %% the application fails with an error that says what to do.
    Ebin = filename:dirname(code:which(pyactor_conn)),
    {ok, Port} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]),
    {ok, Closed} = inet:port(Port),
    ok = gen_tcp:close(Port), % nobody listens there now
    {ok, Peer, nonode@nohost} = peer:start(#{connection => standard_io, args => ["-pa", Ebin],
                                             env => [{"ERL_EPMD_PORT",
                                                      integer_to_list(Closed)}]}),
    try
        ?assertNot(peer:call(Peer, erlang, is_alive, [])),
        {error, Why} = peer:call(Peer, application, ensure_all_started, [pyactor], 30000),
        Text = lists:flatten(io_lib:format("~p", [Why])),
        ?assertNotEqual(nomatch, string:find(Text, "cannot_start_distribution")),
        ?assertNotEqual(nomatch, string:find(Text, "epmd -daemon"))
    after
        peer:stop(Peer)
    end.

old_gateway() ->
    %% A node whose `py' speaks only the per-call protocol: the batcher asks
    %% it `capabilities', hears `unknown_call', and sends each async call as
    %% its own $gen_call, still tracked: answered, or one error if it dies.
    {GwR, PortR, _} = start_gateway("caps"),
    ?assertEqual({ok, [batch, cancel]}, gen_server:call({py, GwR}, capabilities)),
    %% First the switch from the gateway the application started: a caller
    %% still sending on the old route (its count held here, as a caller
    %% descheduled between reading the route and sending would hold it)
    %% keeps that gateway up after the new route is out; once it lets go,
    %% the old gateway is stopped.
    AppGw = pyactor_conn:gateway_os_pid(),
    {pyactor_route, _, Gen, Senders, _} = pyactor_conn:route(),
    Slot = pyactor_route:slot(Gen),
    atomics:add(Senders, Slot, 1),
    Parent = self(),
    spawn_link(fun() -> Parent ! {connected, py:connect(GwR)} end),
    ok = wait_until(fun() -> pyactor_conn:node() =:= GwR end, 30000),
    ?assert(os_process_runs(AppGw)),
    ?assertEqual(GwR, pyactor_conn:node()),
    atomics:sub(Senders, Slot, 1),
    receive {connected, Connected} -> ?assertEqual(ok, Connected) end,
    ?assertNot(os_process_runs(AppGw)),
    Cookie = atom_to_list(erlang:get_cookie()),
    Dir = filename:dirname(code:which(pyactor_old_gateway)),
    {ok, Peer, PeerNode} = peer:start(#{name => peer_name("oldgw"), connection => standard_io,
                                        args => ["-setcookie", Cookie, "-pa", Dir]}),
    try
        Fake = peer:call(Peer, pyactor_old_gateway, start, []),
        ok = py:connect(PeerNode),
        ?assertEqual(5, py:func(operator, add, [2, 3])),
        ?assertEqual(5, py:await(py:async_func(operator, add, [2, 3]))),
        Batcher = pyactor_conn:batcher(PeerNode),
        ?assertMatch(#{mode := per_call, node := PeerNode}, pyactor_batcher:stats(Batcher)),
        Refs = [py:async_func(operator, mul, [I, I]) || I <- lists:seq(1, 200)],
        ?assertEqual([I * I || I <- lists:seq(1, 200)], [py:await(R) || R <- Refs]),
        %% the old gateway dies with calls in flight: one error each
        Sleeping = [py:async_func(timer, sleep, [60000]) || _ <- [1, 2, 3]],
        ok = wait_until(fun() -> maps:get(pending, pyactor_batcher:stats(Batcher)) =:= 3 end,
                        30000),
        true = peer:call(Peer, erlang, exit, [Fake, kill]),
        [?assertError({pyactor, gateway_down}, py:await(R)) || R <- Sleeping],
        %% a new one there is asked again, and serves
        _ = peer:call(Peer, pyactor_old_gateway, start, []),
        ?assertEqual(9, py:await(py:async_func(operator, mul, [3, 3]))),
        ?assertMatch(#{pending := 0, callers := 0}, pyactor_batcher:stats(Batcher)),
        %% back on a current gateway: batches again
        ok = py:connect(GwR),
        ?assertEqual(2, py:await(py:async_func(operator, add, [1, 1]))),
        ?assertMatch(#{mode := batch, node := GwR}, pyactor_batcher:stats(Batcher)),
        ?assertEqual(3, py:add(1, 2))
    after
        peer:stop(Peer),
        stop_gateway(PortR)
    end.

switch_while_busy() ->
    %% Two real gateways A and B; 16 callers make synchronous and async calls
    %% (which report the gateway that served them: a worker's parent) while
    %% py:connect moves from A to B. No call fails (A keeps running, so what
    %% went there is answered there); per caller and kind, the calls go to A
    %% and then only to B; every call sent after connect returned goes to B.
    {GwA, PortA, OsA} = start_gateway("switch_a"),
    {GwB, PortB, OsB} = start_gateway("switch_b"),
    try
        ok = py:connect(GwA),
        Switched = atomics:new(1, []),
        Parent = self(),
        Callers = [spawn_link(fun() -> busy_caller(Parent, Switched, 0, []) end)
                   || _ <- lists:seq(1, 16)],
        [receive {warm, C} -> ok end || C <- Callers],
        ok = py:connect(GwB),
        atomics:put(Switched, 1, 1),
        [receive {late, C} -> ok end || C <- Callers],
        [C ! stop || C <- Callers],
        Results = [receive {results, C, Rs} -> Rs end || C <- Callers],
        All = lists:append(Results),
        ?assertEqual([], [R || {_, _, R} <- All, R =/= OsA, R =/= OsB]),
        ?assertEqual([], [R || {_, 1, R} <- All, R =/= OsB]),
        [?assert(gateway_order([R || {K, _, R} <- lists:reverse(Rs), K =:= Kind], OsA, OsB))
         || Rs <- Results, Kind <- [sync, async]],
        ?assert(lists:keymember(OsA, 3, All)),
        %% calls not sent yet when the switch comes go to the new gateway:
        %% the batcher is held while calls queue and the switch back to A
        %% waits behind them in its mailbox
        Batcher = pyactor_conn:batcher(GwB),
        true = erlang:suspend_process(Batcher),
        Queued = [spawn_link(fun() ->
                                     Refs = [py:async_func(os, getppid, []) || _ <- [1, 2, 3]],
                                     Parent ! {queued, self()},
                                     Parent ! {served, self(), [py:await(R) || R <- Refs]}
                             end) || _ <- lists:seq(1, 8)],
        [receive {queued, Q} -> ok end || Q <- Queued],
        Connector = spawn_link(fun() -> Parent ! {connected, py:connect(GwA)} end),
        ok = wait_until(fun() -> switch_waiting(Batcher) end, 30000),
        true = erlang:resume_process(Batcher),
        receive {connected, Ok} -> ?assertEqual(ok, Ok) end,
        ?assertNot(is_process_alive(Connector)),
        Served = lists:append([receive {served, Q, S} -> S end || Q <- Queued]),
        ?assertEqual(lists:duplicate(24, OsA), Served),
        %% a call in flight at a gateway switched away from, then killed:
        %% exactly one error
        Slow = [py:async_func(time, sleep, [60], [], [{timeout, 120000}]) || _ <- [1, 2]],
        ok = wait_until(fun() -> maps:get(pending, pyactor_batcher:stats(Batcher)) =:= 2 end,
                        30000),
        ok = py:connect(GwB),
        "" = os:cmd("kill -9 " ++ integer_to_list(OsA)),
        [?assertError({pyactor, gateway_down}, py:await(R)) || R <- Slow],
        ?assertEqual(OsB, py:func(os, getppid)),
        ?assertEqual(OsB, py:await(py:async_func(os, getppid, [])))
    after
        catch stop_gateway(PortB),
        catch port_close(PortA)
    end.

%% One busy caller: alternately a synchronous call and 4 async ones, each
%% recorded as {Kind, SwitchedBeforeSending, GatewayOsPid | {error, E}}.
busy_caller(Parent, Switched, N, Acc) ->
    receive stop -> Parent ! {results, self(), Acc}
    after 0 ->
            After = atomics:get(Switched, 1),
            New = case N rem 2 of
                      0 -> [{sync, After, catch_call(fun() -> py:func(os, getppid) end)}];
                      1 -> Refs = [py:async_func(os, getppid, []) || _ <- [1, 2, 3, 4]],
                           [{async, After, catch_call(fun() -> py:await(R) end)} || R <- Refs]
                  end,
            N =:= 20 andalso After =:= 0 andalso (Parent ! {warm, self()}),
            length([x || {_, 1, _} <- Acc]) =:= 0 andalso After =:= 1 andalso
                (Parent ! {late, self()}),
            busy_caller(Parent, Switched, N + 1, lists:reverse(New) ++ Acc)
    end.

catch_call(F) ->
    try F() catch C:E -> {error, {C, E}} end.

%% A* then B*: never A after B.
gateway_order(Pids, A, B) ->
    {_, Rest} = lists:splitwith(fun(P) -> P =:= A end, Pids),
    lists:all(fun(P) -> P =:= B end, Rest).

switch_waiting(Batcher) ->
    {messages, Ms} = erlang:process_info(Batcher, messages),
    lists:any(fun(M) -> element(1, M) =:= switch end, [M || M <- Ms, is_tuple(M)]).

%% A blocking call watches the gateway with a node monitor instead of a
%% process monitor (one distribution message each way): it must take back
%% only its own monitor, leave no message, and still see the gateway die.
blocking_watch() ->
    {Gw, Port, OsPid} = start_gateway("watch"),
    Call = fun(Req) -> pyactor_client:call(Gw, Req, 20000) end,
    Add = fun(I) -> {func, operator, add, [I, 1], [], #{timeout => 20000}} end,
    true = erlang:monitor_node(Gw, true), % the caller's own, kept throughout
    ?assertEqual([I + 1 || I <- lists:seq(1, 200)], [Call(Add(I)) || I <- lists:seq(1, 200)]),
    ?assertError({python, 'ZeroDivisionError', _, _},
                 Call({func, operator, truediv, [1, 0], [], #{timeout => 20000}})),
    {message_queue_len, 0} = erlang:process_info(self(), message_queue_len),
    {monitors, []} = erlang:process_info(self(), monitors),
    %% callers blocked in calls when the gateway dies: one gateway_down each
    Parent = self(),
    Callers = [spawn(fun() ->
                             Parent ! {result, self(),
                                       catch Call({func, time, sleep, [30], [], #{timeout => 60000}})}
                     end) || _ <- lists:seq(1, 3)],
    ok = wait_until(fun() -> length([W || W = #{in_flight := F} <- Call(status), F > 0]) > 0
                    end, 30000),
    "" = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    [receive {result, C, R} -> ?assertMatch({'EXIT', {{pyactor, gateway_down}, _}}, R)
     after 60000 -> error({hang, C})
     end || C <- Callers],
    %% this process's own node monitor fired once: the 201 calls took back theirs
    receive {nodedown, Gw} -> ok after 60000 -> error(no_nodedown) end,
    receive {nodedown, Gw} = Extra -> error({second_nodedown, Extra}) after 200 -> ok end,
    receive {Port, {exit_status, _}} -> ok after 60000 -> error(gateway_still_running) end,
    %% a call to a gateway that is gone: gateway_down at once, not a timeout
    ?assertError({pyactor, gateway_down}, Call(Add(1))).

stop_under_calls() ->
    %% The application stops while synchronous and async calls run: each
    %% caller gets exactly one error; the gateway and its workers are gone.
    ok = wait_until(fun() -> busy_workers() =:= 0 end, 90000),
    GwOsPid = pyactor_conn:gateway_os_pid(),
    WorkerPids = [P || #{pid := P} <- py:status(), is_integer(P)],
    ?assert(length(WorkerPids) >= 1),
    Parent = self(),
    Sync = [spawn(fun() -> Parent ! {result, self(), catch_call(fun() ->
                                                                       py:func(time, sleep, [30])
                                                               end)}
                  end) || _ <- [1, 2]],
    Async = [spawn(fun() ->
                           Refs = [py:async_func(time, sleep, [30]) || _ <- [1, 2, 3]],
                           Parent ! {sent, self()},
                           Parent ! {result, self(), [catch_call(fun() -> py:await(R) end)
                                                      || R <- Refs]}
                   end) || _ <- [1, 2]],
    [receive {sent, A} -> ok end || A <- Async],
    ok = wait_until(fun() -> busy_workers() > 0 end, 30000),
    ok = application:stop(pyactor),
    Results = lists:flatten([receive {result, C, R} -> R after 60000 -> hang end
                             || C <- Sync ++ Async]),
    ?assertEqual(2 + 6, length(Results)),
    [?assertMatch({error, {error, {pyactor, _}}}, R) || R <- Results],
    receive {result, _, _} = Extra -> error({second_result, Extra}) after 100 -> ok end,
    ?assertNot(os_process_runs(GwOsPid)),
    ok = wait_until(fun() -> not lists:any(fun os_process_runs/1, WorkerPids) end, 30000),
    %% calls with the application stopped: an error that says what to do
    {no_gateway, Msg} = try py:add(1, 2) catch error:{pyactor, E} -> E end,
    ?assertNotEqual(nomatch, binary:match(Msg, <<"ensure_all_started">>)),
    %% a gateway that cannot start: its own output is in the error (and not
    %% on this node's terminal)
    ok = application:set_env(pyactor, config, "/nonexistent/pyactor_edge.ini"),
    {error, Why} = application:ensure_all_started(pyactor),
    ?assertNotEqual(nomatch, string:find(io_lib:format("~p", [Why]), "nonexistent")),
    ok = application:unset_env(pyactor, config),
    %% started twice: the second start is a no-op
    ?assertEqual({ok, [pyactor]}, application:ensure_all_started(pyactor)),
    ?assertEqual({ok, []}, application:ensure_all_started(pyactor)),
    record_os_pid(pyactor_conn:gateway_os_pid()),
    ?assertEqual(3, py:add(1, 2)),
    ?assertEqual(3, py:await(py:async_func(operator, add, [1, 2]))).

%% -- helpers -------------------------------------------------------------------

bad_request(F) ->
    try F() of
        R -> error({no_error, R})
    catch error:{pyactor, {bad_request, Msg}} when is_binary(Msg) -> {bad_request, Msg}
    end.

%% Whether the OS process `Pid' runs (a zombie does not).
os_process_runs(Pid) ->
    case file:read_file("/proc/" ++ integer_to_list(Pid) ++ "/stat") of
        {ok, Stat} ->
            [_, AfterName] = string:split(Stat, <<") ">>, trailing),
            binary:first(AfterName) =/= $Z;
        {error, _} ->
            false
    end.

%% `pyactor bridge' with 1 worker, by hand; its node, port and OS pid.
start_gateway(What) ->
    pyactor_test_lib:start_gateway(What, ["--workers", "1"]).

peer_name(What) ->
    list_to_atom("pyactor_edge_" ++ What ++ "_" ++ os:getpid()).
