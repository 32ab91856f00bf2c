%% @doc The route of calls (see pyactor_route.hrl): which counter slot a
%% generation uses.
-module(pyactor_route).
-export([slot/1]).

%% @doc The senders counter of generation `Gen' (two slots, by parity).
-spec slot(non_neg_integer()) -> 1 | 2.
slot(Gen) -> (Gen band 1) + 1.
