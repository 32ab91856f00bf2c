%% EUnit tests of the `py' API against a real gateway (`pyactor bridge',
%% started by the application as a port program) and real Python workers.
%% Run through ctest (erlbridge/tests/run_eunit.sh), which provides a private
%% epmd on loopback ($ERL_EPMD_PORT) and $PYACTOR_BIN.
-module(py_tests).
-include_lib("eunit/include/eunit.hrl").
-import(pyactor_test_lib, [stop_gateway/1, record_os_pid/1, busy_workers/0, wait_until/2]).

%% -- fixture -------------------------------------------------------------------

setup() ->
    {ok, _} = net_kernel:start([list_to_atom("pyactor_eunit_" ++ os:getpid()), shortnames]),
    ok = application:load(pyactor),
    ok = application:set_env(pyactor, workers, 2),
    ok = application:set_env(pyactor, timeout, 20000),
    {ok, _} = application:ensure_all_started(pyactor),
    record_gateway(),
    ok.

cleanup(_) ->
    ok = application:stop(pyactor),
    net_kernel:stop().

%% The ctest script kills every gateway it finds in this file at the end,
%% should a test leave one behind.
record_gateway() ->
    case os:getenv("PYACTOR_TEST_PIDS") of
        false -> ok;
        _ -> record_os_pid(pyactor_conn:gateway_os_pid())
    end.

py_test_() ->
    {setup, fun setup/0, fun cleanup/1,
     {timeout, 600,
      [{"lfex/py README session", {timeout, 120, fun readme_session/0}},
       {"values cross both ways", {timeout, 120, fun values/0}},
       {"pids, refs and funs come back equal", {timeout, 120, fun opaque_terms/0}},
       {"object references", {timeout, 120, fun object_refs/0}},
       {"errors raise", {timeout, 120, fun errors/0}},
       {"per-call timeout", {timeout, 120, fun call_timeout/0}},
       {"async calls", {timeout, 120, fun async_calls/0}},
       {"parallel forms", {timeout, 120, fun parallel_forms/0}},
       {"pool", {timeout, 120, fun pool/0}},
       {"plain gen_server:call and net_adm:ping", {timeout, 120, fun plain_calls/0}},
       {"malformed and adversarial terms", {timeout, 120, fun adversarial/0}},
       {"50 callers x 200 calls", {timeout, 300, fun many_callers/0}},
       {"a wrong cookie is refused", {timeout, 120, fun wrong_cookie/0}},
       {"a caller node that goes away", {timeout, 120, fun caller_node_down/0}},
       {"ticks keep an idle connection up", {timeout, 120, fun idle_connection_ticks/0}},
       {"caller processes that die: their calls are cancelled",
        {timeout, 120, fun caller_process_dies/0}},
       {"batched async calls from many callers", {timeout, 180, fun batched_many_callers/0}},
       {"a batch with malformed entries among good ones", {timeout, 120, fun batch_malformed/0}},
       {"async callers killed mid-batch: their calls are cancelled",
        {timeout, 120, fun batch_callers_killed/0}},
       {"a starmap from a node killed with -9 is cut short",
        {timeout, 120, fun starmap_node_killed/0}},
       {"a standalone gateway: cookie file, SIGTERM, exit 0", {timeout, 120, fun standalone/0}},
       {"a killed gateway: callers get errors, the app restarts it",
        {timeout, 180, fun gateway_killed/0}},
       %% last: it leaves the application on a gateway it did not start
       {"py:connect: async calls follow the batcher to the new gateway",
        {timeout, 120, fun connect_moves_batcher/0}}]}}.

%% -- tests -----------------------------------------------------------------------

%% Every example of lfex/py's README Erlang session (prompts 1 to 52), in
%% order, with strings as binaries (prompt 26's keys too: a char list is a
%% Python list, which a dict cannot take as a key), then a few more.
readme_session() ->
    Versions = py:get_versions(),
    ?assertMatch([{erlang, _}, {emulator, _}, {pyactor, _}, {python, _}], Versions),
    {ok, Cwd} = file:get_cwd(),
    ?assertEqual(unicode:characters_to_binary(Cwd), py:func(os, getcwd)),
    ?assertMatch({<<"datetime">>, {_, _, _, _, _, _, _, undefined}},
                 py:func('datetime.datetime', now)),
    ?assertEqual(false, py:func('os.path', isfile, [<<"/tmp">>])),
    ?assertEqual(true, py:func('os.path', isdir, [<<"/tmp">>])),
    ?assertEqual(42, py:func(builtins, int, [<<"101010">>], [{base, 2}])),
    ?assertEqual(3.141592653589793, py:const(math, pi)),
    ?assertEqual(3.141592653589793, py:const(math, pi, float)),
    ?assertEqual(3, py:const(math, pi, int)),
    ?assertEqual(<<"3.141592653589793">>, py:const(math, pi, str)),
    ?assertEqual(#{}, py:init(builtins, dict)),
    ?assertMatch({'$pyactor_ref', _, _, <<"UserDict">>}, py:init(collections, 'UserDict')),
    ?assertEqual({<<"date">>, {1923, 4, 2}}, py:init(datetime, date, [1923, 4, 2])),
    Now = py:func('datetime.datetime', now),
    {<<"datetime">>, {Y, _, _, H, Mi, S, Us, undefined}} = Now,
    Expected = iolist_to_binary(io_lib:format("~4..0B.~2..0B.d ~2..0B:~2..0B:~2..0B",
                                              [Y, element(2, element(2, Now)), H, Mi, S])),
    ?assertEqual(Expected, py:method(Now, strftime, [<<"%Y.%m.d %H:%M:%S">>])),
    ?assertEqual(Y, py:attr(Now, year)),
    ?assertEqual(Us, py:attr(Now, microsecond)),
    Later = py:func('datetime.datetime', now),
    Diff = py:sub(Later, Now),
    ?assertMatch({<<"timedelta">>, {0, _, _}}, Diff),
    ?assertEqual(element(2, element(2, Diff)), py:attr(Diff, seconds)),
    ?assertEqual(element(2, element(2, Diff)) / 60, py:attr(Diff, seconds) / 60),
    ?assertMatch({<<"datetime">>, _}, py:pycall(datetime, 'datetime.now')),
    ?assertEqual({<<"datetime">>, {1923, 4, 2, 0, 0, 0, 0, undefined}},
                 py:pycall(datetime, datetime, [1923, 4, 2, 0, 0, 0])),
    ?assertEqual(#{}, py:dict()),
    ?assertEqual(#{<<"a">> => 1, <<"b">> => 2}, py:dict([{<<"a">>, 1}, {<<"b">>, 2}])),
    ?assertEqual(42, py:int(<<"101010">>, [{base, 2}])),
    ?assertEqual(true, py:any([true, true, false, false, false, true])),
    ?assertEqual(false, py:all([true, true, false, false, false, true])),
    ?assertEqual(true, py:all([true, true, true])),
    ?assertEqual(481229803398374426442198455156736, py:pow(6, 42)),
    ?assertEqual(0.66667, py:round(0.666666667, 5)),
    Range = py:range(7, 42),
    ?assertMatch({'$pyactor_ref', _, _, <<"range">>}, Range),
    ?assertEqual(35, py:len(Range)),
    ?assertEqual(lists:seq(7, 41), py:pylist(Range)),
    ?assertEqual(35, length(py:pylist(py:range(7, 42)))),
    ?assertEqual(42, py:add(37, 5)),
    ?assertEqual(42, py:mul(7, 6)),
    ?assertEqual(42, py:sub(-108, -150)),
    ?assertEqual(42.0, py:truediv(462, 11)),
    ?assertEqual(42, py:floordiv(462, 11)),
    ?assertEqual(true, py:gt(7, 6)),
    ?assertEqual(false, py:le(7, 6)),
    ?assertEqual(true, py:eq(42, 42)),
    ?assertEqual(12, py:'and-'(60, 13)),
    ?assertEqual(61, py:'or-'(60, 13)),
    ?assertEqual(49, py:'xor'(60, 13)),
    ?assertEqual(-61, py:inv(60)),
    ?assertEqual(15, py:rshift(60, 2)),
    ?assertEqual(240, py:lshift(60, 2)),
    ?assertEqual([], py:pylist()),
    ?assertEqual([1, 2, 3, 4], py:pylist([1, 2, 3, 4])),
    ?assertEqual(<<"int">>, py:ptype(42)),
    ?assertEqual(<<"'abc'">>, py:prepr(<<"abc">>)),
    ?assert(lists:member(<<"append">>, py:pdir([]))),
    ?assertEqual(1, py:release(Range)).

values() ->
    Echo = fun(X) -> py:func(copy, copy, [X]) end,
    Same = [0, -1, 255, 256, -(1 bsl 31), 1 bsl 62, 1 bsl 63, -(1 bsl 63) - 1, 1 bsl 64,
            -(1 bsl 200) + 7, 1 bsl 2100, 0.0, -0.0, 1.5, -1.0e300,
            <<"text">>, <<"ünïcödé ✓"/utf8>>, <<>>, <<255, 0, 1>>,
            true, false, undefined, ok, 'ÅtomΩ', [], [1, [2, [3]]], {}, {1, {2, <<"x">>}},
            #{}, #{<<"k">> => [1, 2], 3 => {a, b}, {t} => #{}},
            list_to_tuple(lists:seq(1, 300)), lists:seq(1, 1000),
            {<<"date">>, {2024, 2, 29}},
            {<<"datetime">>, {2024, 2, 29, 23, 59, 58, 123456, 3600}},
            {<<"timedelta">>, {-1, 5, 7}}, {<<"decimal">>, <<"3.14159265358979323846">>},
            {<<"complex">>, {1.5, -2.0}}],
    [?assertEqual(X, Echo(X)) || X <- Same],
    %% {bytes, B} forces bytes; it comes back as the binary.
    ?assertEqual(<<1, 2, 3>>, Echo({bytes, <<1, 2, 3>>})),
    ?assertEqual(<<"bytes">>, py:ptype({bytes, <<"abc">>})),
    ?assertEqual(<<"str">>, py:ptype(<<"abc">>)),
    ?assertEqual(<<"bytes">>, py:ptype(<<255>>)),
    ?assertEqual(<<"NoneType">>, py:ptype(undefined)),
    ?assertEqual(<<"bool">>, py:ptype(true)),
    ?assertEqual(<<"Atom">>, py:ptype(hello)),
    ?assertEqual(<<"tuple">>, py:ptype({1, 2})),
    ?assertEqual(<<"dict">>, py:ptype(#{a => 1})),
    ?assertEqual(<<"date">>, py:ptype({<<"date">>, {2024, 1, 1}})),
    %% an Erlang string is a list of integers
    ?assertEqual("abc", Echo("abc")),
    ?assertEqual(1 bsl 300 + 1, py:add(1 bsl 300, 1)),
    ?assertEqual(3, py:len({bytes, <<1, 2, 3>>})),
    ?assertEqual(4, py:len(<<"ünï✓"/utf8>>)),
    %% a set of a list comes back as the set's elements (in Python's order)
    {<<"set">>, Elements} = py:set([3, 1, 2, 3]),
    ?assertEqual([1, 2, 3], lists:sort(Elements)).

opaque_terms() ->
    Self = self(),
    Ref = make_ref(),
    Fun = fun(X) -> X + 1 end,
    Port = hd(erlang:ports()),
    Terms = {Self, Ref, Fun, fun lists:map/2, Port, [a | b], <<1:3>>},
    ?assertEqual(Terms, py:func(copy, copy, [Terms])),
    %% inside Python containers too
    ?assertEqual([Self, Self], py:mul([Self], 2)),
    ?assertEqual(#{<<"pid">> => Self},
                 py:eval(<<"{'pid': p}">>, #{p => Self})),
    ?assertEqual(<<"Opaque">>, py:ptype(Self)).

object_refs() ->
    L = py:func(builtins, list, [[3, 1, 2]], [], [{by_ref, true}]),
    ?assertMatch({'$pyactor_ref', _, _, <<"list">>}, L),
    undefined = py:method(L, sort),
    undefined = py:method(L, append, [10]),
    ?assertEqual([1, 2, 3, 10], py:pylist(L)),
    ?assertEqual(4, py:len(L)),
    C = py:init(collections, 'Counter', [[a, b, a]]),
    ?assertEqual(2, py:getitem(C, a)),
    ?assertEqual(1, py:release(L)),
    ?assertError({pyactor, {stale_ref, _}}, py:len(L)),
    ?assertError({pyactor, {stale_ref, _}}, py:len({'$pyactor_ref', 999999, 1, <<"list">>})),
    %% a tuple that only looks like a reference is a tuple
    ?assertEqual(4, py:len({'$pyactor_ref', x, y, z})).

errors() ->
    try py:truediv(1, 0) of
        R -> error({unexpected, R})
    catch
        error:{python, 'ZeroDivisionError', <<"division by zero">>, Traceback} ->
            ?assertNotEqual(nomatch, binary:match(Traceback, <<"ZeroDivisionError">>))
    end,
    ?assertError({python, 'ModuleNotFoundError', _, _}, py:func(no_such_module, f)),
    ?assertError({python, 'AttributeError', _, _}, py:func(math, no_such_function)),
    ?assertError({python, 'TypeError', _, _}, py:func(math, sqrt, [<<"x">>])),
    ?assertError({pyactor, {bad_request, _}}, py:func(math, sqrt, not_a_list)),
    ?assertError({pyactor, {bad_request, _}}, py:func(math, sqrt, [1], [{1, 2}])),
    ?assertError({pyactor, {bad_request, _}}, py:func(math, sqrt, [1], [], [{worker, -1}])),
    ?assertError({pyactor, {bad_request, _}}, py:const(math, pi, complex)),
    ?assertError({pyactor, {unknown_call, {nonsense, 1}}},
                 pyactor_client:call({nonsense, 1}, 5000)),
    %% after all that, the gateway still serves
    ?assertEqual(2.0, py:func(math, sqrt, [4])).

call_timeout() ->
    ?assertError({pyactor, timeout}, py:func(time, sleep, [30], [], [{timeout, 300}])),
    %% the interrupted worker serves again
    ?assert(lists:all(fun({_, R}) -> R =:= {ok, 2.0} end, py:broadcast(math, sqrt, [4]))),
    ?assertEqual(3, py:add(1, 2)).

async_calls() ->
    Refs = [py:async_func(operator, mul, [I, I]) || I <- lists:seq(1, 20)],
    ?assertEqual([I * I || I <- lists:seq(1, 20)], [py:await(R) || R <- Refs]),
    Slow = py:async_func(time, sleep, [0.5]),
    ?assertError({pyactor, timeout}, py:await(Slow, 10)),
    ?assertEqual(undefined, py:await(Slow, 10000)),
    Bad = py:async_func(math, sqrt, [-1]),
    ?assertError({python, 'ValueError', _, _}, py:await(Bad)).

parallel_forms() ->
    Replies = py:broadcast(os, getpid),
    ?assertEqual(length(py:workers()), length(Replies)),
    Pids = [P || {_, {ok, P}} <- Replies],
    ?assertEqual(length(Replies), length(lists:usort(Pids))),
    ?assertEqual([I * I || I <- lists:seq(1, 100)],
                 py:starmap(operator, mul, [[I, I] || I <- lists:seq(1, 100)])),
    ?assertEqual([-I || I <- lists:seq(1, 100)], py:map(operator, neg, lists:seq(1, 100))),
    ?assertEqual([1.0, 2.0, 3.0], py:map(math, sqrt, [1, 4, 9])),
    ?assertError({python, 'ValueError', _, _}, py:map(math, sqrt, [1, -1])),
    ?assertMatch([{ok, 2.0}, {error, {python, <<"ValueError">>, _, _}}, {ok, 5}],
                 py:batch([{math, sqrt, [4], []}, {math, sqrt, [-1], []},
                           {operator, add, [2, 3], []}])).

pool() ->
    Workers = py:workers(),
    ?assertEqual(2, length(Workers)),
    Status = py:status(),
    ?assert(lists:all(fun(#{id := _, pid := P, state := _}) -> is_integer(P) end, Status)),
    [New] = py:add_workers(1),
    ?assert(is_integer(New)),
    ?assertEqual(3, length(py:status())).

plain_calls() ->
    Node = pyactor_conn:node(),
    ?assertEqual(pong, net_adm:ping(Node)),
    ?assertEqual({ok, 1.4142135623730951},
                 gen_server:call({py, Node}, {func, math, sqrt, [2], [], #{}})),
    ?assertEqual({ok, pong}, gen_server:call({py, Node}, ping)),
    ?assertEqual({error, {unknown_call, hello}}, gen_server:call({py, Node}, hello)),
    ?assertMatch({error, {no_such_name, nobody}}, gen_server:call({nobody, Node}, hi, 5000)),
    ?assert(lists:member(Node, nodes(hidden))).

adversarial() ->
    Node = pyactor_conn:node(),
    %% plain messages (no one to answer) are dropped
    {py, Node} ! garbage,
    {py, Node} ! {'$gen_call', not_a_from, x},
    {py, Node} ! {'$gen_call', {self(), tag}, {func, math, sqrt, [4], [], #{}}},
    %% nesting deeper than the codec allows: an error reply, not a crash
    Deep = lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 5000)),
    ?assertMatch({error, {bad_term, _}},
                 gen_server:call({py, Node}, {func, copy, copy, [Deep], [], #{}})),
    %% wrong shapes everywhere
    Shapes = [{func}, {func, 1, 2, 3, 4, 5}, {func, math, sqrt, [1], [], notopts},
              {func, <<255>>, sqrt, [], [], #{}}, {method, x, 1, [], [], #{}},
              {attr, x, <<>>, #{}}, {starmap, m, f, notalist, #{}}, {batch, [x], #{}},
              {add_workers, 100000}, {const, m, n, bad, #{}}, {release, 5},
              {func, math, sqrt, [1], #{1 => 2}, #{}}, {eval, 1, #{}, #{}},
              {func, math, sqrt, [1], [], #{timeout => -5}}, [], <<>>, 1.5],
    [?assertMatch({error, _}, gen_server:call({py, Node}, S)) || S <- Shapes],
    %% a very large request and reply
    Big = binary:copy(<<"x">>, 8 * 1024 * 1024),
    ?assertEqual(byte_size(Big), py:len(Big)),
    ?assertEqual(Big, py:func(copy, copy, [Big])),
    %% a request over the 64 MiB limit: an error reply; the connection and a
    %% call in flight beside it are unharmed
    Slow = py:async_func(time, sleep, [0.5]),
    Huge = binary:copy(<<"y">>, 65 * 1024 * 1024),
    ?assertMatch({error, {bad_term, _}},
                 gen_server:call({py, Node}, {func, builtins, len, [Huge], [], #{}}, 60000)),
    ?assertEqual(undefined, py:await(Slow)),
    %% still serving
    ?assertEqual(5, py:add(2, 3)).

many_callers() ->
    Parent = self(),
    N = 50,
    K = 200,
    Pids = [spawn_link(fun() ->
                           Results = [py:add(P * 1000000, I) || I <- lists:seq(1, K)],
                           Parent ! {done, self(), Results =:= [P * 1000000 + I
                                                                || I <- lists:seq(1, K)]}
                       end) || P <- lists:seq(1, N)],
    Oks = [receive {done, Pid, Ok} -> Ok end || Pid <- Pids],
    ?assertEqual(lists:duplicate(N, true), Oks).

wrong_cookie() ->
    Node = pyactor_conn:node(),
    {ok, Peer, _} = peer:start(#{name => peer_name("wrongcookie"), connection => standard_io,
                                 args => ["-setcookie", "not-the-cookie"]}),
    try
        ?assertEqual(false, peer:call(Peer, net_kernel, connect_node, [Node])),
        ?assertMatch({'EXIT', _}, catch peer:call(Peer, gen_server, call, [{py, Node}, ping, 2000]))
    after
        peer:stop(Peer)
    end,
    %% the right cookie still works
    ?assertEqual(pong, net_adm:ping(Node)),
    ?assertEqual(3, py:add(1, 2)).

caller_node_down() ->
    %% A node whose calls are running goes away: they are cancelled, so the
    %% workers are free again long before the calls' 60 s sleeps would end.
    Node = pyactor_conn:node(),
    Cookie = atom_to_list(erlang:get_cookie()),
    {ok, Peer, _} = peer:start(#{name => peer_name("caller"), connection => standard_io,
                                 args => ["-setcookie", Cookie]}),
    Workers = length(py:workers()),
    Sleep = {func, time, sleep, [60], [], #{timeout => 120000}},
    [peer:call(Peer, erlang, spawn, [gen_server, call, [{py, Node}, Sleep, 130000]])
     || _ <- lists:seq(1, Workers)],
    ok = wait_until(fun() -> busy_workers() =:= Workers end, 30000),
    peer:stop(Peer),
    ok = wait_until(fun() -> busy_workers() =:= 0 end, 30000),
    ?assertEqual(4, py:add(2, 2)).

idle_connection_ticks() ->
    %% A node with net_ticktime 4 drops a peer it hears nothing from for 4 s;
    %% the gateway answers its ticks, so 3 ticktimes of idleness keep the
    %% connection (this test waits them out: the drop must not happen).
    Node = pyactor_conn:node(),
    Cookie = atom_to_list(erlang:get_cookie()),
    {ok, Peer, _} = peer:start(#{name => peer_name("ticks"), connection => standard_io,
                                 args => ["-setcookie", Cookie, "-kernel", "net_ticktime", "4"]}),
    try
        ?assertEqual({ok, pong}, peer:call(Peer, gen_server, call, [{py, Node}, ping])),
        ?assert(lists:member(Node, peer:call(Peer, erlang, nodes, [hidden]))),
        timer:sleep(12000), % three ticktimes with no call: only ticks cross
        ?assert(lists:member(Node, peer:call(Peer, erlang, nodes, [hidden]))),
        ?assertEqual({ok, pong}, peer:call(Peer, gen_server, call, [{py, Node}, ping]))
    after
        peer:stop(Peer)
    end.

caller_process_dies() ->
    %% The callers die while this node stays connected: the gateway monitors
    %% each caller process and cancels its calls, so the workers are free
    %% long before the 60 s sleeps would end.
    ok = wait_until(fun() -> busy_workers() =:= 0 end, 90000),
    Workers = length(py:workers()),
    Callers = [spawn(fun() -> py:func(time, sleep, [60], [], [{timeout, 120000}]) end)
               || _ <- lists:seq(1, Workers)],
    %% and one more caller, queued behind them, that lives and is answered
    Parent = self(),
    Survivor = spawn(fun() -> Parent ! {survivor, py:add(20, 22)} end),
    ok = wait_until(fun() -> busy_workers() =:= Workers end, 30000),
    [exit(C, kill) || C <- Callers],
    ok = wait_until(fun() -> busy_workers() =:= 0 end, 30000),
    receive {survivor, R} -> ?assertEqual(42, R) after 60000 -> error({no_reply, Survivor}) end,
    %% a caller that dies with nothing in flight costs nothing; calls go on
    ?assertEqual(4, py:add(2, 2)).

batched_many_callers() ->
    %% The batcher is held while 40 callers queue 50 calls each: it then takes
    %% them from its mailbox at most 512 per message, so 2,000 calls cross in
    %% a handful of batches. Every caller gets each of its own results once.
    Batcher = pyactor_conn:batcher(pyactor_conn:node()),
    ?assert(is_pid(Batcher)),
    #{batches := B0, calls := C0} = pyactor_batcher:stats(Batcher),
    Parent = self(),
    N = 40,
    K = 50,
    true = erlang:suspend_process(Batcher),
    Callers = [spawn_link(fun() ->
                                  Refs = [py:async_func(operator, add, [P * 1000, I])
                                          || I <- lists:seq(1, K)],
                                  Parent ! {queued, self()},
                                  Results = [py:await(R) || R <- Refs],
                                  Parent ! {done, self(), Results}
                          end) || P <- lists:seq(1, N)],
    [receive {queued, C} -> ok end || C <- Callers],
    true = erlang:resume_process(Batcher),
    Results = [receive {done, C, R} -> R end || C <- Callers],
    ?assertEqual([[P * 1000 + I || I <- lists:seq(1, K)] || P <- lists:seq(1, N)], Results),
    #{batches := B1, calls := C1, pending := 0, callers := 0} = pyactor_batcher:stats(Batcher),
    ?assertEqual(N * K, C1 - C0),
    ?assert(B1 - B0 =< (N * K) div 512 + 1),
    %% an idle batcher sends a lone call at once
    ?assertEqual(7, py:await(py:async_func(operator, add, [3, 4]))),
    #{batches := B2} = pyactor_batcher:stats(Batcher),
    ?assertEqual(B1 + 1, B2).

batch_malformed() ->
    %% A batch built by hand: undecodable, unknown and too-deep entries get
    %% their own error replies; the good ones beside them are served; each
    %% id is answered exactly once.
    Node = pyactor_conn:node(),
    Deep = lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 5000)),
    Entries = [{1, term_to_binary({func, operator, add, [1, 2], [], #{}})},
               {2, <<131, 255, 0>>},
               {3, term_to_binary({nonsense})},
               {4, term_to_binary({func, copy, copy, [Deep], [], #{}})},
               {300, term_to_binary({func, math, sqrt, [-1], [], #{}})},
               {70000, <<>>},
               {5, term_to_binary({func, math, sqrt, [4], [], #{}})},
               {6, term_to_binary(ping)}],
    {py, Node} ! {'$pyactor_batch', self(), Entries},
    Replies = collect_replies(length(Entries), []),
    ?assertEqual(lists:sort([Id || {Id, _} <- Entries]), lists:sort([Id || {Id, _} <- Replies])),
    R = maps:from_list(Replies),
    ?assertEqual({ok, 3}, maps:get(1, R)),
    ?assertMatch({error, {bad_term, _}}, maps:get(2, R)),
    ?assertEqual({error, {unknown_call, {nonsense}}}, maps:get(3, R)),
    ?assertMatch({error, {bad_term, _}}, maps:get(4, R)),
    ?assertMatch({error, {python, <<"ValueError">>, _, _}}, maps:get(300, R)),
    ?assertMatch({error, {bad_term, _}}, maps:get(70000, R)),
    ?assertEqual({ok, 2.0}, maps:get(5, R)),
    ?assertEqual({ok, pong}, maps:get(6, R)),
    %% a broken structure: the entries before the break are served, then
    %% the batch is refused at the broken entry; the rest is not run
    Mul = fun(A) -> term_to_binary({func, operator, mul, [A, A], [], #{}}) end,
    {py, Node} ! {'$pyactor_batch', self(), [{7, Mul(3)}, not_an_entry, {8, Mul(4)}]},
    ?assertEqual([{7, {ok, 9}}], collect_replies(1, [])),
    receive {'$pyactor_bad_batch', 1, Why} -> ?assert(is_binary(Why))
    after 30000 -> error(no_bad_batch_reply)
    end,
    {py, Node} ! {'$pyactor_batch', self(), not_a_list},
    receive {'$pyactor_bad_batch', 0, _} -> ok after 30000 -> error(no_bad_batch_reply) end,
    %% cancels of unknown ids, and garbage cancels, are ignored
    {py, Node} ! {'$pyactor_cancel', self(), [1, 2, 12345]},
    {py, Node} ! {'$pyactor_cancel', self(), garbage},
    %% a last ping through the same path: then nothing else is left over
    {py, Node} ! {'$pyactor_batch', self(), [{9, term_to_binary(ping)}]},
    ?assertEqual([{9, {ok, pong}}], collect_replies(1, [])),
    receive {'$pyactor_replies', _} = Stray -> error({stray, Stray}) after 0 -> ok end,
    ?assertEqual(5, py:add(2, 3)).

batch_callers_killed() ->
    %% Callers blocked in py:await on long calls are killed: the batcher
    %% sees them die and cancels their calls at the gateway, so the workers
    %% are free long before the 60 s sleeps would end; a caller beside them
    %% is answered, and the batcher keeps nothing of the dead.
    ok = wait_until(fun() -> busy_workers() =:= 0 end, 90000),
    Batcher = pyactor_conn:batcher(pyactor_conn:node()),
    Workers = length(py:workers()),
    Callers = [spawn(fun() ->
                             Refs = [py:async_func(time, sleep, [60], [], [{timeout, 120000}])
                                     || _ <- [1, 2]],
                             [py:await(R) || R <- Refs]
                     end) || _ <- lists:seq(1, Workers)],
    ok = wait_until(fun() -> busy_workers() =:= Workers end, 30000),
    Survivor = py:async_func(operator, add, [20, 22]),
    [exit(C, kill) || C <- Callers],
    ok = wait_until(fun() -> busy_workers() =:= 0 end, 30000),
    ?assertEqual(42, py:await(Survivor)),
    ok = wait_until(fun() -> maps:get(pending, pyactor_batcher:stats(Batcher)) =:= 0 end, 30000),
    ?assertMatch(#{callers := 0}, pyactor_batcher:stats(Batcher)),
    ?assertEqual(4, py:await(py:async_func(operator, add, [2, 2]))).

collect_replies(0, Acc) ->
    lists:reverse(Acc);
collect_replies(N, Acc) ->
    receive
        {'$pyactor_replies', Rs} when length(Rs) =< N ->
            collect_replies(N - length(Rs), lists:reverse(Rs) ++ Acc);
        {'$pyactor_replies', Rs} -> error({too_many_replies, Rs, N})
    after 60000 -> error({missing_replies, N, Acc})
    end.

starmap_node_killed() ->
    %% A starmap of 3 items per worker is running for a node that is killed
    %% with SIGKILL: its remaining items are cancelled (the 60 s sleeps would
    %% keep the workers busy for three minutes otherwise). Its own gateway,
    %% with the default pipeline depth: the items not started are already
    %% written to the busy workers, so their cancels must reach them there.
    {Gw, Port, _OsPid} = start_gateway("starmap_gw", []),
    Cookie = atom_to_list(erlang:get_cookie()),
    {ok, Peer, _} = peer:start(#{name => peer_name("starmap"), connection => standard_io,
                                 args => ["-setcookie", Cookie]}),
    OsPid = peer:call(Peer, os, getpid, []),
    Busy = fun() -> {ok, Ws} = gen_server:call({py, Gw}, status),
                    length([W || W = #{in_flight := F} <- Ws, F > 0]) end,
    Items = [[60] || _ <- lists:seq(1, 6)],
    Req = {starmap, time, sleep, Items, #{timeout => 240000}},
    peer:call(Peer, erlang, spawn, [gen_server, call, [{py, Gw}, Req, 250000]]),
    ok = wait_until(fun() -> Busy() =:= 2 end, 30000),
    "" = os:cmd("kill -9 " ++ OsPid),
    catch peer:stop(Peer),
    ok = wait_until(fun() -> Busy() =:= 0 end, 30000),
    %% no item of it runs later: these would wait behind them (and time out)
    Mul = {func, operator, mul, [3, 3], [], #{timeout => 20000}},
    ?assertEqual([{ok, 9}, {ok, 9}], [gen_server:call({py, Gw}, Mul, 30000) || _ <- [1, 2]]),
    stop_gateway(Port).

gateway_killed() ->
    OldConn = whereis(pyactor_conn),
    OldOsPid = pyactor_conn:gateway_os_pid(),
    Parent = self(),
    Callers = [spawn(fun() ->
                             Result = (catch py:func(time, sleep, [30])),
                             Parent ! {result, self(), Result}
                     end) || _ <- lists:seq(1, 5)],
    %% and asynchronous callers with calls in flight through the batcher
    OldBatcher = pyactor_conn:batcher(pyactor_conn:node()),
    AsyncCallers = [spawn(fun() ->
                                  Refs = [py:async_func(time, sleep, [30]) || _ <- [1, 2, 3]],
                                  Parent ! {sent, self()},
                                  Parent ! {result, self(), [(catch py:await(R)) || R <- Refs]}
                          end) || _ <- lists:seq(1, 5)],
    [receive {sent, C} -> ok end || C <- AsyncCallers],
    ok = wait_until(fun() -> busy_workers() > 0 end, 30000),
    Carried = fun() -> maps:get(pending, pyactor_batcher:stats(OldBatcher)) end,
    ok = wait_until(fun() -> Carried() =:= 15 end, 30000),
    Mon = erlang:monitor(process, OldConn),
    "" = os:cmd("kill -9 " ++ integer_to_list(OldOsPid)),
    Results = [receive {result, C, R} -> R after 60000 -> hang end || C <- Callers],
    [?assertMatch({'EXIT', {{pyactor, _}, _}}, R) || R <- Results],
    AsyncResults = [receive {result, C, R} -> R after 60000 -> hang end || C <- AsyncCallers],
    [?assertMatch({'EXIT', {{pyactor, _}, _}}, R) || Rs <- AsyncResults, R <- Rs],
    ?assertEqual(15, length(lists:append(AsyncResults))),
    receive {result, _, _} = Extra -> error({second_result, Extra}) after 0 -> ok end,
    receive {'DOWN', Mon, process, OldConn, _} -> ok after 60000 -> error(no_restart) end,
    NewConn = wait_for_registered(pyactor_conn, 60000),
    _ = sys:get_state(NewConn, 70000), % returns once the new gateway is up
    ?assertNotEqual(OldConn, NewConn),
    NewOsPid = pyactor_conn:gateway_os_pid(),
    ?assertNotEqual(OldOsPid, NewOsPid),
    record_gateway(),
    ?assertEqual(6, py:mul(2, 3)),
    NewBatcher = pyactor_conn:batcher(pyactor_conn:node()),
    ?assertNotEqual(OldBatcher, NewBatcher),
    ?assertEqual(6, py:await(py:async_func(operator, mul, [2, 3]))).

connect_moves_batcher() ->
    {Gw2, Port2, _} = start_gateway("connect_gw", []),
    Batcher = pyactor_conn:batcher(pyactor_conn:node()),
    Slow = py:async_func(time, sleep, [5]),
    ok = wait_until(fun() -> maps:get(pending, pyactor_batcher:stats(Batcher)) =:= 1 end, 30000),
    %% the old gateway (started by the application) is stopped: the call it
    %% carried is answered with an error, once; the same batcher carries on
    %% to the new gateway
    ok = py:connect(Gw2),
    ?assertError({pyactor, gateway_down}, py:await(Slow)),
    ?assertEqual(Batcher, pyactor_conn:batcher(Gw2)),
    ?assertEqual(undefined, pyactor_conn:batcher(node())),
    #{calls := C0} = pyactor_batcher:stats(Batcher),
    ?assertEqual([I + 1 || I <- lists:seq(1, 20)],
                 [py:await(R) || R <- [py:async_func(operator, add, [I, 1])
                                      || I <- lists:seq(1, 20)]]),
    ?assertMatch(#{pending := 0, node := Gw2, mode := batch}, pyactor_batcher:stats(Batcher)),
    #{calls := C1} = pyactor_batcher:stats(Batcher),
    ?assertEqual(20, C1 - C0),
    stop_gateway(Port2).

standalone() ->
    %% `pyactor bridge' by hand, as a user runs it: the cookie from a file,
    %% calls from this node, then SIGTERM: exit status 0, name unregistered.
    Dir = filename:join(os:getenv("PYACTOR_TEST_WORKDIR", "/tmp"), "standalone_" ++ os:getpid()),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    CookieFile = filename:join(Dir, "cookie"),
    ok = file:write_file(CookieFile, [atom_to_list(erlang:get_cookie()), "\n"]),
    Alive = "standalone_" ++ os:getpid(),
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Port = open_port({spawn_executable, os:getenv("PYACTOR_BIN")},
                     [{args, ["bridge", "--sname", Alive, "--cookie-file", CookieFile,
                              "--workers", "1"]},
                      {line, 4096}, exit_status, use_stdio, binary]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    record_os_pid(OsPid),
    Node = list_to_atom(Alive ++ "@" ++ Host),
    receive {Port, {data, {eol, <<"ready ", _/binary>>}}} -> ok
    after 60000 -> error(gateway_not_ready)
    end,
    ?assertEqual({ok, 9.0}, gen_server:call({py, Node}, {func, math, pow, [3, 2], [], #{}})),
    {ok, Names} = net_adm:names(),
    ?assert(lists:keymember(Alive, 1, Names)),
    %% SIGTERM while a call runs whose reply the gateway's loop reads itself
    %% (the worker was idle, so the loop became its reader): a clean stop,
    %% and the caller hears of it.
    Flag = filename:join(Dir, "running"),
    ReqId = gen_server:send_request(
              {py, Node}, {eval, <<"open(p, 'w').close() or __import__('time').sleep(30)">>,
                           #{<<"p">> => unicode:characters_to_binary(Flag)}, #{}}),
    ok = await_file(Flag, 600),
    "" = os:cmd("kill -TERM " ++ integer_to_list(OsPid)),
    receive {Port, {exit_status, Status}} -> ?assertEqual(0, Status)
    after 60000 -> error(no_exit_after_sigterm)
    end,
    ?assertNotEqual(timeout, gen_server:wait_response(ReqId, 60000)),
    {ok, After} = net_adm:names(),
    ?assertNot(lists:keymember(Alive, 1, After)).

%% -- helpers -------------------------------------------------------------------

%% Waits until `File' exists (a hang guard of N tries 50 ms apart).
await_file(_File, 0) ->
    timeout;
await_file(File, N) ->
    case filelib:is_regular(File) of
        true -> ok;
        false -> timer:sleep(50), await_file(File, N - 1)
    end.

%% Starts `pyactor bridge' with 2 workers and the config lines `Config' by
%% hand (recorded for the ctest script's cleanup); returns its node, port and
%% OS pid once it is ready.
start_gateway(What, Config) ->
    Dir = filename:join(os:getenv("PYACTOR_TEST_WORKDIR", "/tmp"), What ++ "_" ++ os:getpid()),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    ConfigFile = filename:join(Dir, "pyactor.ini"),
    ok = file:write_file(ConfigFile, ["[pyactor]\n", [[L, "\n"] || L <- Config]]),
    pyactor_test_lib:start_gateway(What, ["--workers", "2", "--config", ConfigFile]).

peer_name(What) ->
    list_to_atom("pyactor_eunit_" ++ What ++ "_" ++ os:getpid()).

wait_for_registered(Name, Timeout) when Timeout > 0 ->
    case whereis(Name) of
        undefined ->
            timer:sleep(10),
            wait_for_registered(Name, Timeout - 10);
        Pid ->
            Pid
    end.
