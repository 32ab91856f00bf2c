%% @doc Carries asynchronous calls to the gateway in use, several per
%% distribution message. Callers (`py:async_func' and friends) send their
%% requests to this process on their own node (`send_request/2'); it takes
%% what is in its mailbox (up to ?MAX_BATCH calls) and sends them as one
%% message `{'$pyactor_batch', self(), [{Id, term_to_binary(Req)}, ...]}' to
%% `{py, Node}'. No timer: a call that finds the batcher idle leaves at once,
%% alone. The gateway answers with `{'$pyactor_replies', [{Id, Reply}, ...]}'
%% (the replies of one of its loop turns); each reply goes to its caller as
%% `{Tag, Reply}', which `wait_response/3' takes.
%%
%% One batcher serves every gateway the application uses in turn:
%% `py:connect/1' tells it to `switch/2'. The switch is a message in its
%% mailbox, so it orders the calls: a call it had sent before the switch is
%% answered by the gateway it went to (or gets one `gateway_down' error if
%% that one goes away); a call not sent yet when the switch comes goes to the
%% new gateway.
%%
%% Before its first call to a gateway the batcher asks it `capabilities'. A
%% gateway older than the batch protocol answers `{error, {unknown_call, _}}';
%% its calls then go one `$gen_call' each (the per-call protocol), still
%% tracked here, so they are answered or get one error all the same (only
%% the cancel of a dead caller's calls is missing: that gateway has none).
%%
%% Nothing is lost: the batcher monitors every caller with calls in flight
%% and cancels the calls of one that dies; it monitors each gateway's `py'
%% and answers every call in flight there with `{error, {pyactor,
%% gateway_down, Why}}' when that goes away; each caller monitors the
%% batcher while it has calls there (one monitor per caller process, kept in
%% its process dictionary with the number of its calls not finished, instead
%% of a monitor and an alias per call), so the batcher's own death reaches
%% each of its calls as one error. Each call is answered once.
%%
%% Started (linked) by `pyactor_conn'.
-module(pyactor_batcher).

-export([start_link/1, send_request/2, wait_response/3, switch/2, stats/1]).
-export([init/2]).

%% Calls taken from the mailbox per batch message.
-define(MAX_BATCH, 512).
%% Ids run from 256 to 2^31 - 1 and wrap (the gateway takes these). Never
%% below 256: Erlang writes a list of ids that all are as a string, which
%% gateways before 2026-12 did not read in `$pyactor_cancel' (the cancel was
%% dropped and the dead caller's calls ran on).
-define(FIRST_ID, 256).
-define(ID_LIMIT, 2147483648).
%% How long the capability question may take before the batch protocol is
%% assumed (a gateway that does not answer then fails its calls itself).
-define(PROBE_TIMEOUT, 10000).
-define(CALLER_MON(Pid), {'$pyactor_caller', Pid}).

-record(s, {node :: node(),
            parent :: pid(),
            %% how the gateway in use takes calls: not asked yet, batches,
            %% or one $gen_call per call (a gateway older than batches)
            mode = unknown :: unknown | batch | per_call,
            %% Node => monitor of {py, Node}, for every gateway with calls sent
            gw_mons = #{} :: #{node() => reference()},
            next_id = ?FIRST_ID :: non_neg_integer(),
            %% Id => {CallerPid, Tag, Node}, every call sent or queued
            pending = #{} :: #{non_neg_integer() => {pid(), reference(), node()}},
            %% Tag => Id of calls sent by the per-call protocol
            tags = #{} :: #{reference() => non_neg_integer()},
            out = [] :: [{non_neg_integer(), binary()}], % not sent yet, newest first
            batches = 0 :: non_neg_integer(),
            calls = 0 :: non_neg_integer()}).

%% @doc Starts a batcher for the gateway `Node', linked to the caller.
-spec start_link(node()) -> {ok, pid()}.
start_link(Node) ->
    proc_lib:start_link(?MODULE, init, [self(), Node]).

%% A caller's monitor of a batcher, with its calls there not finished yet:
%% `{Monitor, Calls}', or `{down, Reason, Calls}' once the batcher's `DOWN'
%% came (its other calls' replies, if any, are in the mailbox before it).
-define(MON_KEY(Batcher), {'$pyactor_batcher', Batcher}).

%% @doc Sends `Req' through `Batcher'; returns the tag for `wait_response/3'
%% in this process. Until the call is finished there, this process monitors
%% `Batcher' (one monitor for all its calls in flight there).
-spec send_request(pid(), term()) -> reference().
send_request(Batcher, Req) ->
    Tag = make_ref(),
    Batcher ! {'$pyactor_call', self(), Tag, term_to_binary(Req)},
    Key = ?MON_KEY(Batcher),
    _ = case get(Key) of
            {Mon, N} -> put(Key, {Mon, N + 1});
            undefined -> put(Key, {erlang:monitor(process, Batcher), 1});
            {down, Reason, N} -> put(Key, {down, Reason, N + 1}) % that one is lost
        end,
    Tag.

%% @doc Waits up to `Timeout' for the reply to the call `Tag' that this
%% process sent through `Batcher': `{reply, Reply}', `timeout' (the call is
%% not finished: it may be waited for again), or `{error, {Reason,
%% Batcher}}' if the batcher died before it answered.
-spec wait_response(pid(), reference(), timeout()) ->
          {reply, term()} | timeout | {error, {term(), pid()}}.
wait_response(Batcher, Tag, Timeout) ->
    Key = ?MON_KEY(Batcher),
    case get(Key) of
        {Mon, N} when is_reference(Mon) ->
            receive
                {Tag, Reply} ->
                    finished(Key, Mon, N),
                    {reply, Reply};
                {'DOWN', Mon, process, _, Reason} ->
                    %% replies come before the DOWN: this call has none
                    finished(Key, {down, Reason}, N),
                    {error, {Reason, Batcher}}
            after Timeout ->
                timeout
            end;
        {down, Reason, N} ->
            finished(Key, {down, Reason}, N),
            receive
                {Tag, Reply} -> {reply, Reply}
            after 0 ->
                {error, {Reason, Batcher}}
            end;
        undefined ->
            %% not booked by send_request/2 (the process dictionary was
            %% cleared): the reply is all there is to wait for
            receive {Tag, Reply} -> {reply, Reply} after Timeout -> timeout end
    end.

%% One call on `Key''s batcher is finished; the monitor goes with the last.
finished(Key, {down, _}, 1) ->
    erase(Key);
finished(Key, {down, Reason}, N) ->
    put(Key, {down, Reason, N - 1});
finished(Key, Mon, 1) ->
    erlang:demonitor(Mon, [flush]),
    erase(Key);
finished(Key, Mon, N) ->
    put(Key, {Mon, N - 1}).

%% @doc Calls not sent yet, and every later one, go to the gateway `Node';
%% calls sent before stay with the gateway they went to. Returns once the
%% batcher has switched.
-spec switch(pid(), node()) -> ok.
switch(Batcher, Node) ->
    Mref = erlang:monitor(process, Batcher),
    Batcher ! {switch, self(), Mref, Node},
    receive
        {Mref, ok} -> erlang:demonitor(Mref, [flush]), ok;
        {'DOWN', Mref, _, _, Reason} -> erlang:error({pyactor, {batcher_down, Reason}})
    end.

%% @doc `#{batches, calls, pending, callers, node, mode}' of a batcher (for
%% tests and the bench).
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
    loop(flush(S));
drain(S, N) ->
    receive Msg -> drain(handle(Msg, S), N - 1)
    after 0 -> loop(flush(S))
    end.

handle({'$pyactor_call', Pid, Tag, Bin}, S = #s{next_id = Id, pending = P, out = Out}) ->
    add_caller(Pid),
    S#s{next_id = next_id(Id),
        pending = P#{Id => {Pid, Tag, S#s.node}},
        out = [{Id, Bin} | Out]};
handle({'$pyactor_replies', Replies}, S) when is_list(Replies) ->
    answer(Replies, S);
handle({Tag, Reply}, S = #s{tags = Tags}) when is_map_key(Tag, Tags) ->
    %% a per-call reply
    {Id, Tags1} = maps:take(Tag, Tags),
    answer([{Id, Reply}], S#s{tags = Tags1});
handle({'DOWN', Mref, process, {py, Node}, Reason} = Down, S = #s{gw_mons = Mons}) ->
    case Mons of
        #{Node := Mref} -> gateway_down(Node, Reason, S#s{gw_mons = maps:remove(Node, Mons)});
        _ -> handle_other(Down, S)
    end;
handle({'DOWN', Mref, process, Pid, _}, S) when is_pid(Pid) ->
    caller_down(Pid, Mref, S);
handle({'$pyactor_bad_batch', Index, Reason}, S) ->
    %% never for batches this module builds: a bug, so say so loudly
    logger:error("pyactor: gateway ~p refused a batch at entry ~p: ~p",
                 [S#s.node, Index, Reason]),
    S;
handle({switch, From, Mref, Node}, S = #s{out = Out, pending = P}) ->
    %% calls not sent yet go to the new gateway
    P1 = lists:foldl(fun({Id, _}, Acc) ->
                             maps:update_with(Id, fun({C, T, _}) -> {C, T, Node} end, Acc)
                     end, P, Out),
    From ! {Mref, ok},
    case Node =:= S#s.node of
        true -> S;
        false -> S#s{node = Node, mode = unknown, pending = P1}
    end;
handle({'EXIT', Parent, Reason}, S = #s{parent = Parent}) ->
    %% pyactor_conn stopped (its gateway exited, or the application stops):
    %% every call carried, sent or not, is answered before this process goes
    Why = iolist_to_binary(io_lib:format("the pyactor application's connection stopped (~0tp)",
                                         [Reason])),
    _ = answer([{Id, {error, {pyactor, gateway_down, Why}}} || Id <- maps:keys(S#s.pending)],
               S#s{out = []}),
    exit({shutdown, Reason});
handle({stats, From, Mref}, S) ->
    From ! {Mref, #{batches => S#s.batches, calls => S#s.calls,
                    pending => map_size(S#s.pending),
                    callers => length([K || K <- get_keys(), is_pid(K)]),
                    node => S#s.node, mode => S#s.mode}},
    S;
handle(Other, S) ->
    handle_other(Other, S).

handle_other(_Other, S) ->
    S.

next_id(Id) when Id + 1 >= ?ID_LIMIT -> ?FIRST_ID;
next_id(Id) -> Id + 1.

%% The callers with calls in flight, in this process's dictionary (cheaper
%% per call than a map in the state): CallerPid => CallsInFlight, and
%% ?CALLER_MON(CallerPid) => the monitor of that caller.
add_caller(Pid) ->
    case get(Pid) of
        undefined ->
            put(?CALLER_MON(Pid), erlang:monitor(process, Pid)),
            put(Pid, 1);
        N ->
            put(Pid, N + 1)
    end.

release_caller(Pid) ->
    case get(Pid) of
        1 ->
            erlang:demonitor(erase(?CALLER_MON(Pid)), [flush]),
            erase(Pid);
        undefined ->
            undefined;
        N ->
            put(Pid, N - 1)
    end.

%% Hands each reply to its caller; replies to calls cancelled meanwhile
%% (their caller died) are dropped.
answer(Replies, S = #s{pending = P}) ->
    S#s{pending = answer_each(Replies, P)}.

answer_each([{Id, Reply} | Rest], P) ->
    case maps:take(Id, P) of
        {{Pid, Tag, _}, P1} ->
            Pid ! {Tag, Reply},
            _ = release_caller(Pid),
            answer_each(Rest, P1);
        error ->
            answer_each(Rest, P)
    end;
answer_each(_, P) ->
    P.

%% A caller died: its calls are cancelled at their gateways (after whatever
%% this batcher still has to send, so that the cancel follows the calls).
caller_down(Pid, Mref, S0) ->
    case get(?CALLER_MON(Pid)) of
        Mref ->
            erase(?CALLER_MON(Pid)),
            erase(Pid),
            S = flush(S0),
            Mine = [{Node, Id} || {Id, {P, _, Node}} <- maps:to_list(S#s.pending), P =:= Pid],
            S1 = S#s{pending = maps:without([Id || {_, Id} <- Mine], S#s.pending)},
            Nodes = lists:usort([Node || {Node, _} <- Mine]),
            [{py, Node} ! {'$pyactor_cancel', self(), [Id || {N, Id} <- Mine, N =:= Node]}
             || Node <- Nodes],
            S1;
        _ ->
            S0
    end.

%% The gateway `Node' (or the connection to it) went away: every call sent
%% there is answered with an error; calls not sent yet go out with the next
%% batch, to a gateway that answers or a fresh monitor that reports it gone.
gateway_down(Node, Reason, S = #s{pending = P, out = Out}) ->
    Unsent = maps:from_list([{Id, true} || {Id, _} <- Out]),
    Why = iolist_to_binary(io_lib:format("gateway ~p went away (~0tp) while the call was there",
                                         [Node, Reason])),
    Error = {error, {pyactor, gateway_down, Why}},
    Sent = [{Id, Error} || {Id, {_, _, N}} <- maps:to_list(P), N =:= Node,
                           not is_map_key(Id, Unsent)],
    S1 = case Node =:= S#s.node of
             true -> S#s{mode = unknown}; % a gateway restarted there is asked again
             false -> S
         end,
    answer(Sent, S1#s{tags = maps:filter(fun(_, Id) -> not lists:keymember(Id, 1, Sent) end,
                                         S#s.tags)}).

flush(S = #s{out = []}) ->
    S;
flush(S0 = #s{out = Out, node = Node}) ->
    S = ensure_monitor(probe(S0)),
    Calls = lists:reverse(Out),
    S1 = case S#s.mode of
             per_call -> send_per_call(Calls, Node, S);
             _ -> {py, Node} ! {'$pyactor_batch', self(), Calls}, S
         end,
    S1#s{out = [], batches = S#s.batches + 1, calls = S#s.calls + length(Out)}.

%% The per-call protocol: one `$gen_call' per call, the reply tagged with a
%% reference of its own.
send_per_call([], _Node, S) ->
    S;
send_per_call([{Id, Bin} | Rest], Node, S = #s{tags = Tags}) ->
    Tag = make_ref(),
    {py, Node} ! {'$gen_call', {self(), Tag}, binary_to_term(Bin)},
    send_per_call(Rest, Node, S#s{tags = Tags#{Tag => Id}}).

%% Asks the gateway in use which protocol it speaks, once per gateway.
probe(S = #s{mode = unknown, node = Node}) ->
    Mode = case catch gen_server:call({py, Node}, capabilities, ?PROBE_TIMEOUT) of
               {ok, Caps} when is_list(Caps) ->
                   case lists:member(batch, Caps) of
                       true -> batch;
                       false -> per_call
                   end;
               {error, {unknown_call, _}} ->
                   per_call; % older than the capability question, and than batches
               _ ->
                   unknown % down or silent: the monitor tells the callers
           end,
    S#s{mode = Mode};
probe(S) ->
    S.

ensure_monitor(S = #s{node = Node, gw_mons = Mons}) ->
    case Mons of
        #{Node := _} -> S;
        _ -> S#s{gw_mons = Mons#{Node => erlang:monitor(process, {py, Node})}}
    end.
