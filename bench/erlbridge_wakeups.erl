%% The Erlang side of bench/erlbridge_wakeups.sh: one round against a running
%% gateway: the median latency of sequential `ping's (answered by the gateway
%% itself) and of `py:func(operator, add, [I, 1])', and the voluntary context
%% switches per py:func call of the gateway's loop thread, its other threads
%% and its worker processes. One JSON line on stdout.
-module(erlbridge_wakeups).
-export([round/1]).
-compile({no_auto_import, [round/1]}).

round([NodeArg, CallsArg, GwPid, Tag]) ->
    Node = list_to_atom(NodeArg),
    N = list_to_integer(CallsArg),
    ok = application:load(pyactor),
    ok = application:set_env(pyactor, bridge_node, Node),
    {ok, _} = application:ensure_all_started(pyactor),
    pong = net_adm:ping(Node),
    Echo = latency(fun(_) -> {ok, pong} = gen_server:call({py, Node}, ping) end, N),
    Func = fun(I) -> I1 = I + 1, I1 = py:func(operator, add, [I, 1]) end,
    [Func(I) || I <- lists:seq(1, 200)],
    {L0, O0, W0} = switches(GwPid),
    FuncUs = latency(Func, N),
    {L1, O1, W1} = switches(GwPid),
    Per = fun(A, B) -> (B - A) / (N + 200) end,
    io:format("{\"tag\":\"~s\",\"echo_us\":~.1f,\"func_us\":~.1f,\"loop\":~.2f,\"other\":~.2f,"
              "\"workers\":~.2f}~n",
              [Tag, Echo, FuncUs, Per(L0, L1), Per(O0, O1), Per(W0, W1)]),
    application:stop(pyactor),
    halt(0).

%% {loop thread, other gateway threads, worker processes}: voluntary switches.
switches(Pid) ->
    Sum = "sed -n 's/^voluntary_ctxt_switches:[[:space:]]*//p' | awk '{s+=$1} END {print s+0}'",
    Cmd = "p=" ++ Pid ++ "; cat /proc/$p/task/$p/status | " ++ Sum ++ "; "
          "cat /proc/$p/task/*/status | " ++ Sum ++ "; "
          "for c in $(pgrep -P $p); do cat /proc/$c/task/*/status; done | " ++ Sum,
    [L, All, W] = [list_to_integer(X) || X <- string:lexemes(os:cmd(Cmd), "\n")],
    {L, All - L, W}.

%% The median of N timed calls, after 200 warm-up calls.
latency(F, N) ->
    [F(I) || I <- lists:seq(1, 200)],
    Us = lists:sort([begin
                         T0 = erlang:monotonic_time(nanosecond),
                         F(I),
                         (erlang:monotonic_time(nanosecond) - T0) / 1000
                     end || I <- lists:seq(1, N)]),
    lists:nth(max(1, N div 2), Us).
