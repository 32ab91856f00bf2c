%% @doc The pyactor application: supervises the connection to a gateway.
-module(pyactor_app).
-behaviour(application).

-export([start/2, stop/1]).

start(_Type, _Args) ->
    pyactor_sup:start_link().

stop(_State) ->
    ok.
