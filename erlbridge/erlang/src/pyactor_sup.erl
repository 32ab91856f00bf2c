%% @doc Supervises `pyactor_conn', which owns (or points at) the gateway.
%% A gateway that dies takes its `pyactor_conn' down; this supervisor then
%% starts a fresh one (at most 5 restarts in 30 seconds).
-module(pyactor_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Flags = #{strategy => one_for_one, intensity => 5, period => 30},
    Conn = #{id => pyactor_conn,
             start => {pyactor_conn, start_link, []},
             restart => permanent,
             shutdown => 15000,
             type => worker},
    {ok, {Flags, [Conn]}}.
