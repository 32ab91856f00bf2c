%% @doc Carries asynchronous calls to one gateway several per distribution
%% message. Callers (`py:async_func' and friends) send their requests to
%% this process on their own node; it takes what is in its mailbox (up to
%% ?MAX_BATCH calls) and sends them as one message
%% `{'$pyactor_batch', self(), [{Id, term_to_binary(Req)}, ...]}' to
%% `{py, Node}'. No timer: a call that finds the batcher idle leaves at once,
%% alone. The gateway answers with `{'$pyactor_replies', [{Id, Reply}, ...]}'
%% (the replies of one of its loop turns); each reply goes to its caller as a
%% `gen_server' reply, so `gen_server:wait_response/2' takes it.
%%
%% Nothing is lost: the batcher monitors every caller with calls in flight
%% and cancels the calls of one that dies; it monitors the gateway's `py'
%% and answers every call in flight with `{error, {pyactor, gateway_down}}'
%% when that goes away; callers monitor the batcher (`send_request/2'), so
%% its own death reaches them too. Each call is answered once.
%%
%% Started (linked) by `pyactor_conn' for the gateway it uses.
-module(pyactor_batcher).

-export([start_link/1, send_request/2, retire/1, stats/1]).
-export([init/2]).

%% Calls taken from the mailbox per batch message.
-define(MAX_BATCH, 512).
%% Ids run from 0 to 2^31 - 1 and wrap (the gateway takes these).
-define(ID_LIMIT, 2147483648).

-record(s, {node :: node(),
            parent :: pid(),
            gw_mon = undefined :: reference() | undefined,
            next_id = 0 :: non_neg_integer(),
            %% Id => {From, CallerPid}, every call sent or queued
            pending = #{} :: #{non_neg_integer() => {{pid(), term()}, pid()}},
            %% CallerPid => {MonitorRef, CallsInFlight}
            callers = #{} :: #{pid() => {reference(), pos_integer()}},
            out = [] :: [{non_neg_integer(), binary()}], % not sent yet, newest first
            retired = false :: boolean(),
            batches = 0 :: non_neg_integer(),
            calls = 0 :: non_neg_integer()}).

%% @doc Starts a batcher for the gateway `Node', linked to the caller.
-spec start_link(node()) -> {ok, pid()}.
start_link(Node) ->
    proc_lib:start_link(?MODULE, init, [self(), Node]).

%% @doc Sends `Req' through `Batcher'; returns a request id for
%% `gen_server:wait_response/2' (the reply, or `{error, {noproc | Reason, _}}'
%% if the batcher dies first).
-spec send_request(pid(), term()) -> reference().
send_request(Batcher, Req) ->
    Mref = erlang:monitor(process, Batcher, [{alias, demonitor}]),
    Batcher ! {'$pyactor_call', self(), [alias | Mref], term_to_binary(Req)},
    Mref.

%% @doc Tells `Batcher' that no new calls will come (its gateway was
%% replaced): it exits once every call it carries is answered.
-spec retire(pid()) -> ok.
retire(Batcher) ->
    Batcher ! retire,
    ok.

%% @doc `#{batches, calls, pending, callers}' of a batcher (for tests).
-spec stats(pid()) -> map().
stats(Batcher) ->
    Mref = erlang:monitor(process, Batcher),
    Batcher ! {stats, self(), Mref},
    receive
        {Mref, Stats} -> erlang:demonitor(Mref, [flush]), Stats;
        {'DOWN', Mref, _, _, Reason} -> erlang:error({pyactor, {batcher_down, Reason}})
    end.

%% -- the process ---------------------------------------------------------------

init(Parent, Node) ->
    process_flag(message_queue_data, off_heap),
    process_flag(trap_exit, true),
    proc_lib:init_ack(Parent, {ok, self()}),
    loop(#s{node = Node, parent = Parent}).

loop(S) ->
    receive Msg -> drain(handle(Msg, S), ?MAX_BATCH - 1) end.

%% Takes what else is in the mailbox, then sends the batch.
drain(S, 0) ->
    next(flush(S));
drain(S, N) ->
    receive Msg -> drain(handle(Msg, S), N - 1)
    after 0 -> next(flush(S))
    end.

next(#s{retired = true, pending = P}) when map_size(P) =:= 0 ->
    exit(normal);
next(S) ->
    loop(S).

handle({'$pyactor_call', Pid, Tag, Bin}, S = #s{next_id = Id, pending = P, out = Out}) ->
    S#s{next_id = (Id + 1) rem ?ID_LIMIT,
        pending = P#{Id => {{Pid, Tag}, Pid}},
        callers = add_caller(Pid, S#s.callers),
        out = [{Id, Bin} | Out]};
handle({'$pyactor_replies', Replies}, S) when is_list(Replies) ->
    answer(Replies, S);
handle({'DOWN', Mref, process, _, Reason}, S = #s{gw_mon = Mref}) ->
    gateway_down(Reason, S#s{gw_mon = undefined});
handle({'DOWN', Mref, process, Pid, _}, S) when is_pid(Pid) ->
    caller_down(Pid, Mref, S);
handle({'$pyactor_bad_batch', Index, Reason}, S) ->
    %% never for batches this module builds: a bug, so say so loudly
    logger:error("pyactor: gateway ~p refused a batch at entry ~p: ~p",
                 [S#s.node, Index, Reason]),
    S;
handle({'EXIT', Parent, Reason}, S = #s{parent = Parent}) ->
    %% pyactor_conn stopped (its gateway exited, or the application stops):
    %% every call carried is answered before this process goes
    _ = gateway_down({stopped, Reason}, S#s{out = []}),
    exit({shutdown, Reason});
handle(retire, S) ->
    S#s{retired = true};
handle({stats, From, Mref}, S) ->
    From ! {Mref, #{batches => S#s.batches, calls => S#s.calls,
                    pending => map_size(S#s.pending), callers => map_size(S#s.callers)}},
    S;
handle(_Other, S) ->
    S.

add_caller(Pid, Callers) ->
    case Callers of
        #{Pid := {Mref, N}} -> Callers#{Pid := {Mref, N + 1}};
        _ -> Callers#{Pid => {erlang:monitor(process, Pid), 1}}
    end.

release_caller(Pid, Callers) ->
    case Callers of
        #{Pid := {Mref, 1}} ->
            erlang:demonitor(Mref, [flush]),
            maps:remove(Pid, Callers);
        #{Pid := {Mref, N}} ->
            Callers#{Pid := {Mref, N - 1}};
        _ ->
            Callers
    end.

%% Hands each reply to its caller; replies to calls cancelled meanwhile
%% (their caller died) are dropped.
answer([{Id, Reply} | Rest], S = #s{pending = P, callers = C}) ->
    case maps:take(Id, P) of
        {{From, Pid}, P1} ->
            gen_server:reply(From, Reply),
            answer(Rest, S#s{pending = P1, callers = release_caller(Pid, C)});
        error ->
            answer(Rest, S)
    end;
answer(_, S) ->
    S.

%% A caller died: its calls are cancelled at the gateway (after whatever
%% this batcher still has to send, so that the cancel follows the calls).
caller_down(Pid, Mref, S0) ->
    case S0#s.callers of
        #{Pid := {Mref, _}} ->
            S = flush(S0),
            Ids = [Id || {Id, {_, P}} <- maps:to_list(S#s.pending), P =:= Pid],
            S1 = S#s{pending = maps:without(Ids, S#s.pending),
                     callers = maps:remove(Pid, S#s.callers)},
            case Ids of
                [] -> ok;
                _ -> {py, S#s.node} ! {'$pyactor_cancel', self(), Ids}
            end,
            S1;
        _ ->
            S0
    end.

%% The gateway (or the connection to it) went away: every call sent is
%% answered with an error; calls not sent yet go out with the next batch,
%% to a gateway that answers or a fresh monitor that reports it gone.
gateway_down(Reason, S = #s{pending = P, out = Out}) ->
    Unsent = maps:from_list([{Id, true} || {Id, _} <- Out]),
    Error = {error, {pyactor, gateway_down, iolist_to_binary(
                                              io_lib:format("gateway ~p went away: ~p",
                                                            [S#s.node, Reason]))}},
    Sent = [{Id, Error} || Id <- maps:keys(P), not is_map_key(Id, Unsent)],
    answer(Sent, S).

flush(S = #s{out = []}) ->
    S;
flush(S = #s{out = Out, node = Node}) ->
    S1 = ensure_monitor(S),
    {py, Node} ! {'$pyactor_batch', self(), lists:reverse(Out)},
    S1#s{out = [], batches = S#s.batches + 1, calls = S#s.calls + length(Out)}.

ensure_monitor(S = #s{gw_mon = undefined, node = Node}) ->
    S#s{gw_mon = erlang:monitor(process, {py, Node})};
ensure_monitor(S) ->
    S.
