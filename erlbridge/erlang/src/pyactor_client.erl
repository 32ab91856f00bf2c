%% @doc Sends requests to the gateway and turns replies into results or
%% errors. Used by `py'; each caller process talks to the gateway directly.
-module(pyactor_client).

-export([call/2, call/3, call_named/2, async/2, async/3, await/2, opts/1, raise/1,
         name/2]).

-include("pyactor_route.hrl").

%% Beyond a call's own deadline (which the gateway enforces and answers), the
%% caller waits this much longer before it gives up on the gateway itself.
-define(GRACE_MS, 5000).
%% The longest wait Erlang's `receive ... after' takes (49.7 days); a call's
%% own timeout leaves room for the grace period below it.
-define(MAX_WAIT_MS, 4294967295).
-define(MAX_TIMEOUT_MS, (?MAX_WAIT_MS - ?GRACE_MS)).
%% The call options the client and the gateway know.
-define(OPTIONS, [timeout, worker, by_ref]).
%% The process dictionary key of an async call not awaited yet; its value is
%% the batcher it went through, or `gen' (a gen_server request).
-define(ASYNC_KEY(ReqId), {'$pyactor_async', ReqId}).

%% Errors that carry no detail worth keeping.
-define(PLAIN, [timeout, worker_crashed, node_down, no_workers, overloaded,
                cancelled, not_running, gateway_down]).

%% @doc Sends `Req' to the gateway in use and returns the bare result (or
%% raises), waiting `Timeout' (plus a grace period).
%%
%% A blocking call is one distribution message each way. The gateway is a
%% C-node: its `py' can only go away with its connection, so a node monitor,
%% which is local to this node, stands in for gen_server:call's process
%% monitor and its two extra distribution messages, MONITOR_P and
%% DEMONITOR_P (4-13% of a trivial call's latency, measured by hand).
-spec call(term(), timeout()) -> term().
call(Req, Timeout) ->
    Tag = make_ref(),
    {Node, ok} = on_route(fun(Node) -> send_call(Node, Tag, Req) end),
    receive_reply(Node, Tag, Timeout).

%% @doc As `call/2', to the gateway `Node'.
-spec call(node(), term(), timeout()) -> term().
call(Node, Req, Timeout) ->
    Tag = make_ref(),
    send_call(Node, Tag, Req),
    receive_reply(Node, Tag, Timeout).

receive_reply(Node, Tag, Timeout) ->
    receive
        {Tag, Reply} -> unwatch(Node), unwrap(Reply);
        {nodedown, Node} -> erlang:error({pyactor, gateway_down})
    after grace(Timeout) ->
        unwatch(Node),
        erlang:error({pyactor, timeout})
    end.

%% Watches `Node' (one more node monitor of this process), then sends the
%% call: a gateway lost after this point is reported as `{nodedown, Node}'.
send_call(Node, Tag, Req) ->
    try erlang:monitor_node(Node, true)
    catch error:notalive ->
        erlang:error({pyactor, {gateway_down, <<"this Erlang node is not distributed: start "
                                                "it with -sname or -name to reach a gateway">>}})
    end,
    erlang:send({py, Node}, {'$gen_call', {self(), Tag}, Req}),
    ok.

%% Takes back the node monitor of `send_call/3' and a `nodedown' it may have
%% sent meanwhile.
unwatch(Node) ->
    erlang:monitor_node(Node, false),
    receive {nodedown, Node} -> ok after 0 -> ok end.

%% Sends `Req' on the route in use, as a gen_server request (for async calls
%% that cannot go through the batcher).
send(Req) ->
    on_route(fun(Node) -> gen_server:send_request({py, Node}, Req) end).

%% Runs `Send(Node)' for the gateway in use (see pyactor_route.hrl), never on
%% a route that py:connect/1 has already left; returns `{Node, Result}'.
on_route(Send) ->
    Route = pyactor_conn:route(),
    #pyactor_route{node = Node, gen = Gen, senders = Senders} = Route,
    Slot = pyactor_route:slot(Gen),
    atomics:add(Senders, Slot, 1),
    case persistent_term:get(?PYACTOR_ROUTE_KEY, undefined) of
        Route ->
            try
                {Node, Send(Node)}
            after
                atomics:sub(Senders, Slot, 1)
            end;
        _ ->
            atomics:sub(Senders, Slot, 1),
            on_route(Send)
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

%% @doc Sends `Req' without waiting, through the batcher (several calls per
%% distribution message, to whichever gateway is in use when it leaves);
%% `await/2' takes the result, in this process only.
-spec async(term(), timeout()) -> py:async_ref().
async(Req, Timeout) ->
    case pyactor_conn:route() of
        #pyactor_route{batcher = Batcher} when is_pid(Batcher) ->
            via_batcher(Batcher, Req, Timeout);
        _ ->
            ReqId = element(2, send(Req)),
            put(?ASYNC_KEY(ReqId), gen),
            {pyactor_async, ReqId, Timeout}
    end.

via_batcher(Batcher, Req, Timeout) ->
    ReqId = pyactor_batcher:send_request(Batcher, Req),
    put(?ASYNC_KEY(ReqId), Batcher),
    {pyactor_async, ReqId, Timeout}.

%% @doc As `async/2', to the gateway `Node' (through the batcher if it is
%% the gateway in use).
-spec async(node(), term(), timeout()) -> py:async_ref().
async(Node, Req, Timeout) ->
    case pyactor_conn:batcher(Node) of
        undefined ->
            ReqId = gen_server:send_request({py, Node}, Req),
            put(?ASYNC_KEY(ReqId), gen),
            {pyactor_async, ReqId, Timeout};
        Batcher ->
            via_batcher(Batcher, Req, Timeout)
    end.

%% @doc Waits for an `async/2,3' result; `default' waits the call's own
%% deadline (plus a grace period). A ref is awaited once, by the process
%% that made it; after a `timeout' error it may be awaited again.
-spec await(py:async_ref(), timeout() | default) -> term().
await({pyactor_async, ReqId, CallTimeout} = Ref, Timeout) ->
    Wait = case Timeout of
               default -> grace(CallTimeout);
               infinity -> infinity;
               T when is_integer(T), T >= 0, T =< ?MAX_WAIT_MS -> T;
               _ -> bad_request("~0tp: py:await/2 takes a timeout in milliseconds "
                                "(an integer from 0 to ~B) or infinity", [Timeout, ?MAX_WAIT_MS])
           end,
    Response = case get(?ASYNC_KEY(ReqId)) of
                   gen ->
                       gen_server:wait_response(ReqId, Wait);
                   Batcher when is_pid(Batcher) ->
                       pyactor_batcher:wait_response(Batcher, ReqId, Wait);
                   _ ->
                       bad_request("~0tp is not an async call of this process waiting for "
                                   "its result: it was awaited already, or another process "
                                   "made it (only the process that called py:async_func can "
                                   "await it)", [Ref])
               end,
    case Response of
        {reply, Reply} ->
            erase(?ASYNC_KEY(ReqId)),
            unwrap(Reply);
        timeout ->
            erlang:error({pyactor, timeout});
        {error, {Reason, _}} ->
            erase(?ASYNC_KEY(ReqId)),
            erlang:error({pyactor, gateway_down(Reason)})
    end;
await(Other, _Timeout) ->
    bad_request("~0tp: py:await takes what py:async_func returned "
                "({pyactor_async, _, _})", [Other]).

%% @doc Reads call options (a proplist or map: `timeout', `worker',
%% `by_ref'); returns the deadline and the map the gateway gets.
-spec opts(list() | map()) -> {timeout(), map()}.
opts([]) ->
    %% the common case, without building and checking an empty map
    Timeout = application:get_env(pyactor, timeout, 30000),
    {Timeout, #{timeout => Timeout}};
opts(Opts) when is_list(Opts) ->
    opts(maps:from_list([proplist_pair(O) || O <- Opts]));
opts(Opts) when is_map(Opts) ->
    case [K || K <- maps:keys(Opts), not lists:member(K, ?OPTIONS)] of
        [] -> ok;
        [K | _] -> bad_request("{~0tp, ~0tp}: not a call option; the options are timeout, "
                               "worker and by_ref", [K, maps:get(K, Opts)])
    end,
    Timeout = case maps:get(timeout, Opts, default) of
                  default -> application:get_env(pyactor, timeout, 30000);
                  T when is_integer(T), T > 0, T =< ?MAX_TIMEOUT_MS -> T;
                  infinity -> infinity;
                  Bad -> bad_request("{timeout, ~0tp}: a call's timeout is a number of "
                                     "milliseconds from 1 to ~B (an integer), or infinity",
                                     [Bad, ?MAX_TIMEOUT_MS])
              end,
    {Timeout, Opts#{timeout => Timeout}};
opts(Other) ->
    bad_request("~0tp: call options are a list or a map, such as [{timeout, 5000}]", [Other]).

%% @doc A module, function, class or attribute name as the gateway takes it:
%% an atom or a binary as it is, a string (a char list) as a binary; anything
%% else raises `{pyactor, {bad_request, Why}}' naming `What' and the value.
-spec name(term(), string()) -> atom() | binary().
name(Name, _What) when is_atom(Name); is_binary(Name) ->
    Name;
name(Name, What) when is_list(Name) ->
    case catch unicode:characters_to_binary(Name) of
        Bin when is_binary(Bin), Bin =/= <<>> -> Bin;
        _ -> bad_name(Name, What)
    end;
name(Name, What) ->
    bad_name(Name, What).

bad_name(Name, What) ->
    bad_request("~0tp: the ~s must be an atom, a binary or a string, such as math or "
                "<<\"math\">>", [Name, What]).

bad_request(Format, Args) ->
    erlang:error({pyactor, {bad_request, iolist_to_binary(io_lib:format(Format, Args))}}).

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
to_binary(L) when is_list(L) -> unicode:characters_to_binary(L);
to_binary(_) -> <<>>.

split_last(Name) ->
    case string:split(Name, <<".">>, trailing) of
        [Parent, Last] when Parent =/= <<>>, Last =/= <<>> -> {Parent, Last};
        _ -> none
    end.

proplist_pair({K, V}) -> {K, V};
proplist_pair(K) when is_atom(K) -> {K, true};
proplist_pair(Other) ->
    bad_request("~0tp: a call option is {Key, Value} or an atom, such as {timeout, 5000}",
                [Other]).
