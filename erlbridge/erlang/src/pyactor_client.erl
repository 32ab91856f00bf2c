%% @doc Sends requests to the gateway and turns replies into results or
%% errors. Used by `py'; each caller process talks to the gateway directly.
-module(pyactor_client).

-export([call/2, call/3, call_named/2, async/3, await/2, opts/1, raise/1]).

%% Beyond a call's own deadline (which the gateway enforces and answers), the
%% caller waits this much longer before it gives up on the gateway itself.
-define(GRACE_MS, 5000).

%% Errors that carry no detail worth keeping.
-define(PLAIN, [timeout, worker_crashed, node_down, no_workers, overloaded,
                cancelled, not_running, gateway_down]).

%% @doc Sends `Req' and returns the bare result (or raises), waiting for the
%% application's default timeout.
-spec call(term(), timeout()) -> term().
call(Req, Timeout) ->
    call(pyactor_conn:node(), Req, Timeout).

%% @doc As `call/2', to the gateway `Node'.
-spec call(node(), term(), timeout()) -> term().
call(Node, Req, Timeout) ->
    try gen_server:call({py, Node}, Req, grace(Timeout)) of
        Reply -> unwrap(Reply)
    catch
        exit:{timeout, _} -> erlang:error({pyactor, timeout});
        exit:{Reason, {gen_server, call, _}} -> erlang:error({pyactor, gateway_down(Reason)})
    end.

%% @doc As `call/2' for `func', `init' and `const' requests, with lfex/py's
%% reading of a dotted module that is really a class (`py:func(
%% 'datetime.datetime', now)'): when Python cannot import that module, its
%% last part moves into the name (`datetime' and `datetime.now').
-spec call_named(tuple(), timeout()) -> term().
call_named(Req, Timeout) ->
    Module = to_binary(element(2, Req)),
    try
        call(Req, Timeout)
    catch
        error:{python, 'ModuleNotFoundError', Message, _} = Error:Stack ->
            case {binary:match(Message, <<"'", Module/binary, "'">>), split_last(Module)} of
                {{_, _}, {Parent, Last}} ->
                    Name = <<Last/binary, ".", (to_binary(element(3, Req)))/binary>>,
                    call_named(setelement(3, setelement(2, Req, Parent), Name), Timeout);
                _ ->
                    erlang:raise(error, Error, Stack)
            end
    end.

%% @doc Sends `Req' without waiting; `await/2' takes the result. It goes
%% through the gateway's batcher (several calls per distribution message)
%% when `Node' is the gateway in use, else straight to `{py, Node}'.
-spec async(node(), term(), timeout()) -> {pyactor_async, term(), timeout()}.
async(Node, Req, Timeout) ->
    ReqId = case pyactor_conn:batcher(Node) of
                undefined -> gen_server:send_request({py, Node}, Req);
                Batcher -> pyactor_batcher:send_request(Batcher, Req)
            end,
    {pyactor_async, ReqId, Timeout}.

%% @doc Waits for an `async/3' result; `default' waits the call's own
%% deadline (plus a grace period).
-spec await({pyactor_async, term(), timeout()}, timeout() | default) -> term().
await({pyactor_async, ReqId, CallTimeout}, Timeout) ->
    Wait = case Timeout of
               default -> grace(CallTimeout);
               _ -> Timeout
           end,
    case gen_server:wait_response(ReqId, Wait) of
        {reply, Reply} -> unwrap(Reply);
        timeout -> erlang:error({pyactor, timeout});
        {error, {Reason, _}} -> erlang:error({pyactor, gateway_down(Reason)})
    end;
await(Other, _Timeout) ->
    erlang:error({pyactor, {bad_request, {not_an_async_ref, Other}}}).

%% @doc Reads call options (a proplist or map: `timeout', `worker',
%% `by_ref'); returns the deadline and the map the gateway gets.
-spec opts(list() | map()) -> {timeout(), map()}.
opts(Opts) when is_list(Opts) ->
    opts(maps:from_list([proplist_pair(O) || O <- Opts]));
opts(Opts) when is_map(Opts) ->
    Timeout = case maps:get(timeout, Opts, default) of
                  default -> application:get_env(pyactor, timeout, 30000);
                  T when is_integer(T), T > 0 -> T;
                  infinity -> infinity;
                  Bad -> erlang:error({pyactor, {bad_request, {timeout, Bad}}})
              end,
    {Timeout, Opts#{timeout => Timeout}}.

%% @doc Raises the error a gateway reply carried.
-spec raise(term()) -> no_return().
raise({python, Type, Message, Traceback}) when is_binary(Type) ->
    erlang:error({python, binary_to_atom(Type, utf8), Message, Traceback});
raise({pyactor, Code, Message}) ->
    case lists:member(Code, ?PLAIN) of
        true -> erlang:error({pyactor, Code});
        false -> erlang:error({pyactor, {Code, Message}})
    end;
raise(Other) ->
    erlang:error({pyactor, Other}).

%% -- internals ----------------------------------------------------------------

unwrap({ok, Value}) -> Value;
unwrap({error, Reason}) -> raise(Reason);
unwrap(Other) -> erlang:error({pyactor, {bad_reply, Other}}).

grace(infinity) -> infinity;
grace(T) -> T + ?GRACE_MS.

gateway_down({nodedown, _}) -> gateway_down;
gateway_down(noconnection) -> gateway_down;
gateway_down(noproc) -> gateway_down;
gateway_down(Reason) -> {gateway_down, Reason}.

to_binary(A) when is_atom(A) -> atom_to_binary(A, utf8);
to_binary(B) when is_binary(B) -> B;
to_binary(L) when is_list(L) -> unicode:characters_to_binary(L).

split_last(Name) ->
    case string:split(Name, <<".">>, trailing) of
        [Parent, Last] when Parent =/= <<>>, Last =/= <<>> -> {Parent, Last};
        _ -> none
    end.

proplist_pair({K, V}) -> {K, V};
proplist_pair(K) when is_atom(K) -> {K, true}.
