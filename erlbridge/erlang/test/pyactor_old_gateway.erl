%% @doc A stand-in for a gateway older than the batch protocol (for tests):
%% a process registered as `py' that answers only `$gen_call's, as the first
%% gateways did: `ping', `{func, operator, add | mul, [A, B], _, _}',
%% `{func, timer, sleep, [Ms], _, _}' (answers `undefined' after Ms) and
%% `{error, {unknown_call, Req}}' for everything else (the capability
%% question included). Other messages, `$pyactor_batch' among them, are
%% dropped unanswered, as that gateway did.
-module(pyactor_old_gateway).
-export([start/0, loop/0]).

%% @doc Registers the stand-in as `py' on this node; returns its pid.
start() ->
    Pid = spawn(?MODULE, loop, []),
    true = register(py, Pid),
    Pid.

loop() ->
    receive
        {'$gen_call', {Pid, Tag}, Req} when is_pid(Pid) ->
            Reply = fun(R) -> Pid ! {Tag, R} end,
            case Req of
                ping -> Reply({ok, pong});
                {func, operator, add, [A, B], _, _} -> Reply({ok, A + B});
                {func, operator, mul, [A, B], _, _} -> Reply({ok, A * B});
                {func, timer, sleep, [Ms], _, _} ->
                    spawn(fun() -> timer:sleep(Ms), Reply({ok, undefined}) end);
                _ -> Reply({error, {unknown_call, Req}})
            end;
        _Other ->
            ok
    end,
    loop().
