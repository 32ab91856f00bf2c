%% The Erlang side of the bridge benchmark (bench/erlbridge_bench.sh): one
%% round against a running gateway, one JSON line per figure on stdout.
-module(erlbridge_bench).
-export([round/1, stages/1, mib/1, echo_server/0]).
-compile({no_auto_import, [round/1]}).

round([NodeArg, EchoArg, CallsArg | GatewayOsPid]) ->
    %% the gateway's OS pid, if given: its CPU and its workers' (its child
    %% processes) per call
    OsPids = GatewayOsPid ++ lists:append([children(P) || P <- GatewayOsPid]),
    Node = list_to_atom(NodeArg),
    EchoNode = list_to_atom(EchoArg),
    Calls = list_to_integer(CallsArg),
    ok = application:load(pyactor),
    ok = application:set_env(pyactor, bridge_node, Node),
    {ok, _} = application:ensure_all_started(pyactor),
    pong = net_adm:ping(Node),
    pong = net_adm:ping(EchoNode),
    %% bare round trip through the C-node: `ping' is answered by the gateway
    %% itself (decode, encode, send), no Python
    Echo = latency(fun(_) -> {ok, pong} = gen_server:call({py, Node}, ping) end, Calls),
    line("echo", Echo),
    %% the same round trip to a plain Erlang node (no gateway at all)
    ErlEcho = latency(fun(_) -> {ok, pong} = gen_server:call({echo_srv, EchoNode}, ping) end,
                      Calls),
    line("erl_echo", ErlEcho),
    Func = latency(fun(I) -> I1 = I + 1, I1 = py:func(operator, add, [I, 1]) end, Calls),
    line("py_func", Func),
    line_tput("erl_echo_async_8",
              async_throughput(8, 2500, 32, fun(I) -> erl_echo_async(EchoNode, I) end)),
    line_tput("echo_async_8", async_throughput(8, 2500, 32, fun echo_async/1)),
    %% py:async_func goes through the batcher (several calls per message);
    %% the same calls sent one message each, straight to {py, Node}
    Cpu0 = cpu_ns(OsPids),
    Async8 = async_throughput(8, 2500, 32, fun add_async/1),
    Cpu1 = cpu_ns(OsPids),
    line_tput("async_8", Async8),
    line_cpu("async_8_cpu", Cpu0, Cpu1, 8 * 2500),
    line_tput("async_8_direct", async_throughput(8, 2500, 32, fun add_direct/1)),
    Batcher = pyactor_conn:batcher(Node),
    #{batches := Batches, calls := BatchedCalls} = pyactor_batcher:stats(Batcher),
    io:format("{\"name\":\"batch_size\",\"calls_per_batch\":~.2f}~n",
              [BatchedCalls / max(1, Batches)]),
    Big = crypto:strong_rand_bytes(1024 * 1024),
    Mib = latency(fun(_) -> Big = py:func(builtins, bytes, [{bytes, Big}]) end, 40),
    line("binary_1MiB", Mib),
    %% its floor: the same 1 MiB binary echoed by a plain Erlang node
    ErlMib = latency(fun(_) -> {ok, Big} = gen_server:call({echo_srv, EchoNode}, {echo, Big})
                     end, 40),
    line("erl_echo_1MiB", ErlMib),
    application:stop(pyactor),
    halt(0).

%% Sequential py:func calls only, against a gateway started with
%% PYACTOR_BRIDGE_STAGES=1 (it reports the per-stage times on stop).
stages([NodeArg, CallsArg]) ->
    Node = list_to_atom(NodeArg),
    ok = application:load(pyactor),
    ok = application:set_env(pyactor, bridge_node, Node),
    {ok, _} = application:ensure_all_started(pyactor),
    latency(fun(I) -> I1 = I + 1, I1 = py:func(operator, add, [I, 1]) end,
            list_to_integer(CallsArg)),
    application:stop(pyactor),
    halt(0).

%% Only the 1 MiB binary round trip (bench/erlbridge_mib.sh): N calls, one
%% JSON line.
mib([NodeArg, CallsArg]) ->
    Node = list_to_atom(NodeArg),
    ok = application:load(pyactor),
    ok = application:set_env(pyactor, bridge_node, Node),
    {ok, _} = application:ensure_all_started(pyactor),
    Big = crypto:strong_rand_bytes(1024 * 1024),
    Mib = latency(fun(_) -> Big = py:func(builtins, bytes, [{bytes, Big}]) end,
                  list_to_integer(CallsArg)),
    line("binary_1MiB", Mib),
    application:stop(pyactor),
    halt(0).

latency(F, N) ->
    [F(I) || I <- lists:seq(1, 200)],
    Us = [begin
              T0 = erlang:monotonic_time(nanosecond),
              F(I),
              (erlang:monotonic_time(nanosecond) - T0) / 1000
          end || I <- lists:seq(1, N)],
    Sorted = lists:sort(Us),
    {pct(Sorted, 0.5), pct(Sorted, 0.99), N}.

%% P processes, each with W async calls in flight, K calls each. `Call(I)'
%% starts call I and returns a fun that waits for it and checks its result.
async_throughput(P, K, W, Call) ->
    Parent = self(),
    T0 = erlang:monotonic_time(nanosecond),
    Pids = [spawn_link(fun() -> Parent ! {done, self(), window(K, W, Call)} end)
            || _ <- lists:seq(1, P)],
    [receive {done, Pid, ok} -> ok end || Pid <- Pids],
    Secs = (erlang:monotonic_time(nanosecond) - T0) / 1.0e9,
    {P * K / Secs, P, K, W}.

%% py:async_func of operator.add (through Python).
add_async(I) ->
    Ref = py:async_func(operator, add, [I, 1]),
    fun() -> I1 = I + 1, I1 = py:await(Ref) end.

%% The same call sent without the batcher: one distribution message per call.
add_direct(I) ->
    ReqId = gen_server:send_request({py, pyactor_conn:node()},
                                    {func, operator, add, [I, 1], [], #{timeout => 30000}}),
    fun() -> I1 = I + 1, {reply, {ok, I1}} = gen_server:wait_response(ReqId, 60000) end.

%% The floor: the same window of `ping's the gateway answers itself.
echo_async(_I) ->
    ReqId = gen_server:send_request({py, pyactor_conn:node()}, ping),
    fun() -> {reply, {ok, pong}} = gen_server:wait_response(ReqId, 60000) end.

%% The floor without the gateway: the same window of `ping's to a plain
%% receive loop on another Erlang node of this host.
erl_echo_async(EchoNode, _I) ->
    ReqId = gen_server:send_request({echo_srv, EchoNode}, ping),
    fun() -> {reply, {ok, pong}} = gen_server:wait_response(ReqId, 60000) end.

%% Run on the echo node (-run erlbridge_bench echo_server): a registered
%% plain receive loop answering `$gen_call' ping with {ok, pong}, like the
%% gateway's own `ping' (and `{echo, X}' with {ok, X}). Prints `ready' once registered; runs until killed.
echo_server() ->
    register(echo_srv, self()),
    io:format("ready~n"),
    echo_loop().

echo_loop() ->
    receive
        {'$gen_call', From, ping} -> gen_server:reply(From, {ok, pong});
        {'$gen_call', From, {echo, X}} -> gen_server:reply(From, {ok, X});
        _ -> ok
    end,
    echo_loop().

window(K, W, Call) ->
    First = [Call(I) || I <- lists:seq(1, min(W, K))],
    drain(queue:from_list(First), min(W, K) + 1, K, Call).

drain(Q, Next, K, Call) ->
    case queue:out(Q) of
        {empty, _} -> ok;
        {{value, Wait}, Q1} ->
            Wait(),
            case Next =< K of
                true -> drain(queue:in(Call(Next), Q1), Next + 1, K, Call);
                false -> drain(Q1, Next, K, Call)
            end
    end.

%% CPU time (ns) of this node and of each OS process in `OsPids': the sum of
%% its threads' on-CPU time (/proc/PID/task/*/schedstat, nanoseconds; a
%% thread that exits between two samples drops out of the second). For this
%% node it agrees with /proc/PID/stat's ticks; statistics(runtime) reads
%% some 10-20% lower.
cpu_ns(OsPids) ->
    [{erlang, task_ns(os:getpid())} | [{P, task_ns(P)} || P <- OsPids]].

%% The OS pids whose parent is `Pid' (from /proc/*/stat).
children(Pid) ->
    {ok, Entries} = file:list_dir("/proc"),
    [E || E <- Entries, lists:all(fun(C) -> C >= $0 andalso C =< $9 end, E),
          parent(E) =:= Pid].

parent(Pid) ->
    case file:read_file("/proc/" ++ Pid ++ "/stat") of
        {ok, Stat} ->
            %% after the command name in parentheses: state, then the ppid
            [_, Rest] = string:split(Stat, ") ", trailing),
            [_State, PPid | _] = binary:split(Rest, <<" ">>, [global]),
            binary_to_list(PPid);
        {error, _} ->
            none % exited meanwhile
    end.

task_ns(Pid) ->
    Dir = "/proc/" ++ Pid ++ "/task",
    case file:list_dir(Dir) of
        {ok, Tasks} ->
            lists:sum([case file:read_file(Dir ++ "/" ++ T ++ "/schedstat") of
                           {ok, Text} -> binary_to_integer(hd(binary:split(Text, <<" ">>)));
                           _ -> 0
                       end || T <- Tasks]);
        _ ->
            0
    end.

%% CPU µs per call between two samples of cpu_ns/1: the Erlang node, the
%% gateway (the first OS pid) and its workers summed (the others).
line_cpu(Name, Cpu0, Cpu1, Calls) ->
    Us = [(N1 - N0) / 1000 / Calls || {{_, N0}, {_, N1}} <- lists:zip(Cpu0, Cpu1)],
    {Erlang, Gateway, Workers} = case Us of
                                     [E, G | Ws] -> {E, G, lists:sum(Ws)};
                                     [E] -> {E, -1.0, -1.0} % no OS pids given
                                 end,
    io:format("{\"name\":\"~s\",\"erlang_us\":~.2f,\"gateway_us\":~.2f,"
              "\"workers_us\":~.2f,\"workers\":~B}~n",
              [Name, Erlang, Gateway, Workers, max(0, length(Us) - 2)]).

pct(Sorted, P) ->
    lists:nth(max(1, min(length(Sorted), erlang:round(P * (length(Sorted) - 1)) + 1)), Sorted).

line(Name, {Median, P99, N}) ->
    io:format("{\"name\":\"~s\",\"n\":~B,\"median_us\":~.1f,\"p99_us\":~.1f}~n",
              [Name, N, Median, P99]).

line_tput(Name, {CallsPerSec, P, K, W}) ->
    io:format("{\"name\":\"~s\",\"processes\":~B,\"calls_each\":~B,\"window\":~B,"
              "\"calls_per_s\":~.1f}~n", [Name, P, K, W, CallsPerSec]).
