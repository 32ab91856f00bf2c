%% The route callers read (a persistent term): the gateway node in use, its
%% generation (bumped by each switch), the senders counters and the batcher.
%%
%% A synchronous caller adds itself to the counter of its generation's slot,
%% checks the route is still the one it read, sends, and leaves the counter;
%% a switch publishes the new route, then waits until the old slot is empty:
%% from then on nobody sends on the old route (pyactor_client:send/1).
-define(PYACTOR_ROUTE_KEY, {pyactor, route}).
-record(pyactor_route, {node :: node(),
                        gen :: non_neg_integer(),
                        senders :: atomics:atomics_ref(),
                        batcher :: pid() | undefined}).
