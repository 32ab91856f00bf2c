%% @doc Python from Erlang: lfex/py's API on a pyactor gateway.
%%
%% Values cross as in pyactor's design: integers (any size), floats, atoms
%% (`true'/`false' are bools, `undefined' is None), binaries are str (use
%% `{bytes, Bin}' for bytes), lists, tuples, maps (dicts), by-value types as
%% `{<<"datetime">>, {Y, Mo, D, H, Mi, S, Us, Tz}}' and friends, and other
%% objects as references (`{'$pyactor_ref', ...}') that `method/2..4',
%% `attr/2' and the builtins accept. Pids, refs and funs pass through Python
%% unchanged.
%%
%% Results are bare values. Errors raise
%% `{python, Type, Message, Traceback}' or `{pyactor, Reason}' (`timeout',
%% `worker_crashed', `no_workers', `gateway_down', `{bad_request, Msg}', ...).
%% Every call has a deadline: the `timeout' application variable (30 s), or
%% `{timeout, Ms}' in a call's options.
-module(py).

-compile({no_auto_import, [abs/1, float/1, round/1, max/1, min/1]}).

%% module level
-export([func/1, func/2, func/3, func/4, func/5,
         const/1, const/2, const/3, const/4,
         pycall/2, pycall/3,
         eval/1, eval/2, exec/1]).
%% objects
-export([init/1, init/2, init/3, init/4, init/5,
         method/2, method/3, method/4, method/5,
         attr/2, attr/3, release/1]).
%% parallel and asynchronous
-export([broadcast/2, broadcast/3, broadcast/4,
         map/3, map/4, starmap/3, starmap/4, batch/1, batch/2,
         async_func/2, async_func/3, async_func/4, async_func/5,
         await/1, await/2]).
%% the pool
-export([connect/1, workers/0, status/0, add_workers/1, get_versions/0]).
%% builtins (lfex/py's names: pylist, pdir, pvars, ptype, prepr)
-export([builtin/2, builtin/3,
         abs/1, all/1, any/1, ascii/1, bin/1, bool/1, bytes/1, callable/1, chr/1,
         complex/1, complex/2, dict/0, dict/1, dir/1, divmod/2, enumerate/1,
         float/1, format/1, format/2, frozenset/0, frozenset/1,
         getattr/2, getattr/3, hasattr/2, hash/1, hex/1, id/1,
         int/0, int/1, int/2, isinstance/2, issubclass/2, iter/1, len/1,
         max/1, min/1, next/1, oct/1, ord/1, pow/2, pow/3,
         range/1, range/2, range/3, repr/1, reversed/1, round/1, round/2,
         set/0, set/1, sorted/1, sorted/2, str/1, sum/1, sum/2, tuple/1, type/1,
         vars/1, zip/2,
         pylist/0, pylist/1, pdir/1, pvars/1, ptype/1, prepr/1]).
%% operators (lfex/py's names)
-export([operator/2, operator/3,
         lt/2, le/2, eq/2, ne/2, ge/2, gt/2, 'not-'/1, truth/1, 'is-'/2, 'is-not'/2,
         add/2, sub/2, mul/2, truediv/2, floordiv/2, mod/2, neg/1, pos/1,
         'and-'/2, 'or-'/2, 'xor'/2, inv/1, invert/1, lshift/2, rshift/2,
         concat/2, contains/2, getitem/2]).

-type name() :: atom() | binary().
-type args() :: [term()].
-type kwargs() :: [{name(), term()}] | #{name() => term()}.
-type opts() :: [{timeout, pos_integer() | infinity} | {worker, pos_integer()}
                 | {by_ref, boolean()}] | map().
-type pyref() :: {'$pyactor_ref', non_neg_integer(), non_neg_integer(), binary()}.
-type async_ref() :: {pyactor_async, reference(), timeout()}.
-export_type([pyref/0, async_ref/0]).

%% =============================================================================
%% Module level
%% =============================================================================

%% @doc Calls `module.function()', given as one dotted name: `py:func('os.getcwd')'.
-spec func(name()) -> term().
func(Dotted) ->
    {Module, Function} = split_dotted(Dotted),
    func(Module, Function).

%% @doc Calls `Module.Function()'; `Module' may be dotted (`'os.path'').
-spec func(name(), name()) -> term().
func(Module, Function) -> func(Module, Function, [], [], []).

%% @doc Calls `Module.Function(*Args)'.
-spec func(name(), name(), args()) -> term().
func(Module, Function, Args) -> func(Module, Function, Args, [], []).

%% @doc Calls `Module.Function(*Args, **Kwargs)'; `Kwargs' is a proplist or map.
-spec func(name(), name(), args(), kwargs()) -> term().
func(Module, Function, Args, Kwargs) -> func(Module, Function, Args, Kwargs, []).

%% @doc As `func/4', with call options (`{timeout, Ms}', `{worker, Id}', `{by_ref, true}').
-spec func(name(), name(), args(), kwargs(), opts()) -> term().
func(Module, Function, Args, Kwargs, Opts) ->
    {Timeout, O} = pyactor_client:opts(Opts),
    pyactor_client:call_named({func, module_name(Module), function_name(Function), Args, Kwargs,
                               O}, Timeout).

%% @doc Reads a module constant given as one dotted name: `py:const('math.pi')'.
-spec const(name()) -> term().
const(Dotted) ->
    {Module, Name} = split_dotted(Dotted),
    const(Module, Name).

%% @doc Reads `Module.Name'.
-spec const(name(), name()) -> term().
const(Module, Name) -> const(Module, Name, undefined, []).

%% @doc Reads `Module.Name' cast to `int', `float' or `str'.
-spec const(name(), name(), int | float | str | undefined) -> term().
const(Module, Name, Cast) -> const(Module, Name, Cast, []).

%% @doc As `const/3', with call options.
-spec const(name(), name(), int | float | str | undefined, opts()) -> term().
const(Module, Name, Cast, Opts) ->
    {Timeout, O} = pyactor_client:opts(Opts),
    pyactor_client:call_named({const, module_name(Module), pyactor_client:name(Name, "name"),
                               Cast, O}, Timeout).

%% @doc ErlPort's `python:call' without the pid: `Function' may be dotted
%% (`py:pycall(datetime, 'datetime.now')').
-spec pycall(name(), name()) -> term().
pycall(Module, Function) -> func(Module, Function, [], [], []).

%% @doc As `pycall/2' with arguments.
-spec pycall(name(), name(), args()) -> term().
pycall(Module, Function, Args) -> func(Module, Function, Args, [], []).

%% @doc Evaluates a Python expression (a binary) in a worker.
-spec eval(binary()) -> term().
eval(Expr) -> eval(Expr, #{}).

%% @doc Evaluates a Python expression with local variables (a map or proplist).
-spec eval(binary(), kwargs()) -> term().
eval(Expr, Locals) ->
    {Timeout, O} = pyactor_client:opts([]),
    pyactor_client:call({eval, Expr, Locals, O}, Timeout).

%% @doc Runs Python statements (a binary) in a worker's namespace.
-spec exec(binary()) -> term().
exec(Code) ->
    {Timeout, O} = pyactor_client:opts([]),
    pyactor_client:call({exec, Code, O}, Timeout).

%% =============================================================================
%% Objects
%% =============================================================================

%% @doc Instantiates a class given as one dotted name: `py:init('collections.OrderedDict')'.
-spec init(name()) -> term().
init(Dotted) ->
    {Module, Class} = split_dotted(Dotted),
    init(Module, Class).

%% @doc Instantiates `Module.Class()'.
-spec init(name(), name()) -> term().
init(Module, Class) -> init(Module, Class, [], [], []).

%% @doc Instantiates `Module.Class(*Args)'.
-spec init(name(), name(), args()) -> term().
init(Module, Class, Args) -> init(Module, Class, Args, [], []).

%% @doc Instantiates `Module.Class(*Args, **Kwargs)'.
-spec init(name(), name(), args(), kwargs()) -> term().
init(Module, Class, Args, Kwargs) -> init(Module, Class, Args, Kwargs, []).

%% @doc As `init/4', with call options.
-spec init(name(), name(), args(), kwargs(), opts()) -> term().
init(Module, Class, Args, Kwargs, Opts) ->
    {Timeout, O} = pyactor_client:opts(Opts),
    pyactor_client:call_named({init, module_name(Module), pyactor_client:name(Class, "class"),
                               Args, Kwargs, O}, Timeout).

%% @doc Calls `Object.Name()'; `Object' is a value or an object reference.
-spec method(term(), name()) -> term().
method(Object, Name) -> method(Object, Name, [], [], []).

%% @doc Calls `Object.Name(*Args)'.
-spec method(term(), name(), args()) -> term().
method(Object, Name, Args) -> method(Object, Name, Args, [], []).

%% @doc Calls `Object.Name(*Args, **Kwargs)'.
-spec method(term(), name(), args(), kwargs()) -> term().
method(Object, Name, Args, Kwargs) -> method(Object, Name, Args, Kwargs, []).

%% @doc As `method/4', with call options.
-spec method(term(), name(), args(), kwargs(), opts()) -> term().
method(Object, Name, Args, Kwargs, Opts) ->
    {Timeout, O} = pyactor_client:opts(Opts),
    pyactor_client:call({method, Object, pyactor_client:name(Name, "method name"), Args, Kwargs,
                         O}, Timeout).

%% @doc Reads `Object.Name'.
-spec attr(term(), name()) -> term().
attr(Object, Name) -> attr(Object, Name, []).

%% @doc As `attr/2', with call options.
-spec attr(term(), name(), opts()) -> term().
attr(Object, Name, Opts) ->
    {Timeout, O} = pyactor_client:opts(Opts),
    pyactor_client:call({attr, Object, pyactor_client:name(Name, "attribute name"), O},
                        Timeout).

%% @doc Frees the object behind a reference in its worker; returns 1, or 0
%% if it was already gone.
-spec release(pyref()) -> 0 | 1.
release({'$pyactor_ref', Uid, Id, Type} = Ref)
  when is_integer(Uid), Uid >= 0, is_integer(Id), Id >= 0, is_binary(Type) ->
    {Timeout, _} = pyactor_client:opts([]),
    pyactor_client:call({release, Ref}, Timeout);
release(Other) ->
    erlang:error({pyactor, {bad_request, iolist_to_binary(
                                           io_lib:format("~0tp: py:release/1 takes an object "
                                                         "reference as a call returned it "
                                                         "({'$pyactor_ref', _, _, _})",
                                                         [Other]))}}).

%% =============================================================================
%% Parallel and asynchronous
%% =============================================================================

%% @doc Calls `Module.Function()' on every worker: `[{WorkerId, {ok, V} | {error, E}}]'.
-spec broadcast(name(), name()) -> [{pos_integer(), {ok, term()} | {error, term()}}].
broadcast(Module, Function) -> broadcast(Module, Function, [], []).

%% @doc Calls `Module.Function(*Args)' on every worker.
-spec broadcast(name(), name(), args()) -> [{pos_integer(), {ok, term()} | {error, term()}}].
broadcast(Module, Function, Args) -> broadcast(Module, Function, Args, []).

%% @doc Calls `Module.Function(*Args)' on every worker, with call options.
-spec broadcast(name(), name(), args(), opts()) ->
          [{pos_integer(), {ok, term()} | {error, term()}}].
broadcast(Module, Function, Args, Opts) ->
    {Timeout, O} = pyactor_client:opts(Opts),
    pyactor_client:call({broadcast, module_name(Module), function_name(Function), Args, [], O},
                        Timeout).

%% @doc Scatter/gather: `Module.Function(Item)' for every item, spread over
%% the workers; results in input order. Raises the first item's error.
-spec map(name(), name(), [term()]) -> [term()].
map(Module, Function, Items) -> map(Module, Function, Items, []).

%% @doc As `map/3', with call options (the deadline is per item).
-spec map(name(), name(), [term()], opts()) -> [term()].
map(Module, Function, Items, Opts) when is_list(Items) ->
    starmap(Module, Function, [[Item] || Item <- Items], Opts);
map(_Module, _Function, Items, _Opts) ->
    erlang:error({pyactor, {bad_request, iolist_to_binary(
                                           io_lib:format("~0tP: py:map takes a list of items",
                                                         [Items, 20]))}}).

%% @doc Scatter/gather: `Module.Function(*Args)' for every argument list.
-spec starmap(name(), name(), [args()]) -> [term()].
starmap(Module, Function, ArgLists) -> starmap(Module, Function, ArgLists, []).

%% @doc As `starmap/3', with call options.
-spec starmap(name(), name(), [args()], opts()) -> [term()].
starmap(Module, Function, ArgLists, Opts) ->
    {Timeout, O} = pyactor_client:opts(Opts),
    Results = pyactor_client:call({starmap, module_name(Module), function_name(Function),
                                   ArgLists, O}, Timeout),
    [case R of
         {ok, V} -> V;
         {error, E} -> pyactor_client:raise(E)
     end || R <- Results].

%% @doc Several different calls `{Module, Function, Args, Kwargs}' in one
%% message to one worker: `[{ok, V} | {error, E}]' in order.
-spec batch([{name(), name(), args(), kwargs()}]) -> [{ok, term()} | {error, term()}].
batch(Calls) -> batch(Calls, []).

%% @doc As `batch/1', with call options.
-spec batch([{name(), name(), args(), kwargs()}], opts()) -> [{ok, term()} | {error, term()}].
batch(Calls, Opts) ->
    {Timeout, O} = pyactor_client:opts(Opts),
    pyactor_client:call({batch, Calls, O}, Timeout).

%% @doc Starts `Module.Function()' and returns at once; `await/1,2' takes the result.
%% The call travels through the gateway's batcher (`pyactor_batcher'), with
%% whatever other async calls of this node are waiting, in one message.
-spec async_func(name(), name()) -> async_ref().
async_func(Module, Function) -> async_func(Module, Function, [], [], []).

%% @doc Starts `Module.Function(*Args)' and returns at once.
-spec async_func(name(), name(), args()) -> async_ref().
async_func(Module, Function, Args) -> async_func(Module, Function, Args, [], []).

%% @doc Starts `Module.Function(*Args, **Kwargs)' and returns at once.
-spec async_func(name(), name(), args(), kwargs()) -> async_ref().
async_func(Module, Function, Args, Kwargs) -> async_func(Module, Function, Args, Kwargs, []).

%% @doc As `async_func/4', with call options.
-spec async_func(name(), name(), args(), kwargs(), opts()) -> async_ref().
async_func(Module, Function, Args, Kwargs, Opts) ->
    {Timeout, O} = pyactor_client:opts(Opts),
    pyactor_client:async({func, module_name(Module), function_name(Function), Args, Kwargs, O},
                         Timeout).

%% @doc Waits for an asynchronous call's result (up to its own deadline).
%% Only the process that called `async_func' can await a ref, and only until
%% it has its result; otherwise `{pyactor, {bad_request, Why}}' at once.
-spec await(async_ref()) -> term().
await(Ref) -> pyactor_client:await(Ref, default).

%% @doc Waits at most `Timeout' ms (0 polls; `infinity'); raises
%% `{pyactor, timeout}' after that (the call goes on; `await' may be called
%% again).
-spec await(async_ref(), timeout()) -> term().
await(Ref, Timeout) -> pyactor_client:await(Ref, Timeout).

%% =============================================================================
%% The pool
%% =============================================================================

%% @doc Uses the gateway that runs as `Node' (`pyactor bridge --sname ...'):
%% calls sent before are answered by the gateway they went to (or get one
%% `gateway_down' error), calls not sent yet go to `Node'.
-spec connect(node()) -> ok | {error, term()}.
connect(Node) -> pyactor_conn:connect(Node).

%% @doc The ids of the workers that are ready.
-spec workers() -> [pos_integer()].
workers() -> pyactor_client:call(workers, 10000).

%% @doc Every worker slot: `#{id, pid, state, served, in_flight, restarts, ...}'.
-spec status() -> [map()].
status() -> pyactor_client:call(status, 10000).

%% @doc Starts `N' more workers; returns their ids.
-spec add_workers(pos_integer()) -> [pos_integer()].
add_workers(N) -> pyactor_client:call({add_workers, N}, 60000).

%% @doc Versions of Erlang, pyactor and the workers' Python.
-spec get_versions() -> [{atom(), term()}].
get_versions() ->
    {Timeout, O} = pyactor_client:opts([]),
    Python = pyactor_client:call({versions, O}, Timeout),
    {ok, Vsn} = application:get_key(pyactor, vsn),
    [{erlang, erlang:system_info(otp_release)},
     {emulator, erlang:system_info(version)},
     {pyactor, Vsn},
     {python, Python}].

%% =============================================================================
%% Builtins
%% =============================================================================

%% @doc Calls the Python builtin `Name(*Args)'.
-spec builtin(name(), args()) -> term().
builtin(Name, Args) -> builtin(Name, Args, []).

%% @doc Calls the Python builtin `Name(*Args, **Kwargs)'.
-spec builtin(name(), args(), kwargs()) -> term().
builtin(Name, Args, Kwargs) ->
    {Timeout, O} = pyactor_client:opts([]),
    pyactor_client:call({builtin, pyactor_client:name(Name, "builtin name"), Args, Kwargs, O},
                        Timeout).

%% @doc `abs(X)'.
-spec abs(term()) -> term().
abs(X) -> builtin(abs, [X]).
%% @doc `all(Iterable)'.
-spec all(term()) -> boolean().
all(X) -> builtin(all, [X]).
%% @doc `any(Iterable)'.
-spec any(term()) -> boolean().
any(X) -> builtin(any, [X]).
%% @doc `ascii(X)'.
-spec ascii(term()) -> binary().
ascii(X) -> builtin(ascii, [X]).
%% @doc `bin(X)'.
-spec bin(integer()) -> binary().
bin(X) -> builtin(bin, [X]).
%% @doc `bool(X)'.
-spec bool(term()) -> boolean().
bool(X) -> builtin(bool, [X]).
%% @doc `bytes(X)' (comes back as a binary).
-spec bytes(term()) -> binary().
bytes(X) -> builtin(bytes, [X]).
%% @doc `callable(X)'.
-spec callable(term()) -> boolean().
callable(X) -> builtin(callable, [X]).
%% @doc `chr(X)'.
-spec chr(integer()) -> binary().
chr(X) -> builtin(chr, [X]).
%% @doc `complex(X)'.
-spec complex(term()) -> term().
complex(X) -> builtin(complex, [X]).
%% @doc `complex(Real, Imag)'.
-spec complex(number(), number()) -> term().
complex(Re, Im) -> builtin(complex, [Re, Im]).
%% @doc `dict()': an empty map.
-spec dict() -> map().
dict() -> builtin(dict, []).
%% @doc `dict(Pairs)' from a list of 2-tuples (or a map).
-spec dict(term()) -> map().
dict(Pairs) -> builtin(dict, [Pairs]).
%% @doc `dir(X)'.
-spec dir(term()) -> [binary()].
dir(X) -> builtin(dir, [X]).
%% @doc `divmod(A, B)'.
-spec divmod(number(), number()) -> {number(), number()}.
divmod(A, B) -> builtin(divmod, [A, B]).
%% @doc `enumerate(X)' (an iterator: a reference).
-spec enumerate(term()) -> term().
enumerate(X) -> builtin(enumerate, [X]).
%% @doc `float(X)'.
-spec float(term()) -> float().
float(X) -> builtin(float, [X]).
%% @doc `format(X)'.
-spec format(term()) -> binary().
format(X) -> builtin(format, [X]).
%% @doc `format(X, Spec)'.
-spec format(term(), binary()) -> binary().
format(X, Spec) -> builtin(format, [X, Spec]).
%% @doc `frozenset()'.
-spec frozenset() -> term().
frozenset() -> builtin(frozenset, []).
%% @doc `frozenset(X)'.
-spec frozenset(term()) -> term().
frozenset(X) -> builtin(frozenset, [X]).
%% @doc `getattr(X, Name)'.
-spec getattr(term(), binary()) -> term().
getattr(X, Name) -> builtin(getattr, [X, Name]).
%% @doc `getattr(X, Name, Default)'.
-spec getattr(term(), binary(), term()) -> term().
getattr(X, Name, Default) -> builtin(getattr, [X, Name, Default]).
%% @doc `hasattr(X, Name)'.
-spec hasattr(term(), binary()) -> boolean().
hasattr(X, Name) -> builtin(hasattr, [X, Name]).
%% @doc `hash(X)'.
-spec hash(term()) -> integer().
hash(X) -> builtin(hash, [X]).
%% @doc `hex(X)'.
-spec hex(integer()) -> binary().
hex(X) -> builtin(hex, [X]).
%% @doc `id(X)'.
-spec id(term()) -> integer().
id(X) -> builtin(id, [X]).
%% @doc `int()'.
-spec int() -> integer().
int() -> builtin(int, []).
%% @doc `int(X)'.
-spec int(term()) -> integer().
int(X) -> builtin(int, [X]).
%% @doc `int(X, **Kwargs)', e.g. `py:int(<<"101010">>, [{base, 2}])'.
-spec int(term(), kwargs()) -> integer().
int(X, Kwargs) -> builtin(int, [X], Kwargs).
%% @doc `isinstance(X, Class)'.
-spec isinstance(term(), term()) -> boolean().
isinstance(X, Class) -> builtin(isinstance, [X, Class]).
%% @doc `issubclass(A, B)'.
-spec issubclass(term(), term()) -> boolean().
issubclass(A, B) -> builtin(issubclass, [A, B]).
%% @doc `iter(X)' (a reference).
-spec iter(term()) -> term().
iter(X) -> builtin(iter, [X]).
%% @doc `len(X)'.
-spec len(term()) -> non_neg_integer().
len(X) -> builtin(len, [X]).
%% @doc `max(Iterable)'.
-spec max(term()) -> term().
max(X) -> builtin(max, [X]).
%% @doc `min(Iterable)'.
-spec min(term()) -> term().
min(X) -> builtin(min, [X]).
%% @doc `next(Iterator)'.
-spec next(term()) -> term().
next(X) -> builtin(next, [X]).
%% @doc `oct(X)'.
-spec oct(integer()) -> binary().
oct(X) -> builtin(oct, [X]).
%% @doc `ord(Char)'.
-spec ord(binary()) -> integer().
ord(X) -> builtin(ord, [X]).
%% @doc `pow(A, B)' (any size: `py:pow(6, 42)').
-spec pow(number(), number()) -> number().
pow(A, B) -> builtin(pow, [A, B]).
%% @doc `pow(A, B, Mod)'.
-spec pow(integer(), integer(), integer()) -> integer().
pow(A, B, M) -> builtin(pow, [A, B, M]).
%% @doc `range(Stop)' (a reference; `py:pylist/1' lists it).
-spec range(integer()) -> term().
range(Stop) -> builtin(range, [Stop]).
%% @doc `range(Start, Stop)'.
-spec range(integer(), integer()) -> term().
range(Start, Stop) -> builtin(range, [Start, Stop]).
%% @doc `range(Start, Stop, Step)'.
-spec range(integer(), integer(), integer()) -> term().
range(Start, Stop, Step) -> builtin(range, [Start, Stop, Step]).
%% @doc `repr(X)'.
-spec repr(term()) -> binary().
repr(X) -> builtin(repr, [X]).
%% @doc `reversed(X)' (a reference).
-spec reversed(term()) -> term().
reversed(X) -> builtin(reversed, [X]).
%% @doc `round(X)'.
-spec round(number()) -> integer().
round(X) -> builtin(round, [X]).
%% @doc `round(X, Digits)'.
-spec round(number(), integer()) -> number().
round(X, Digits) -> builtin(round, [X, Digits]).
%% @doc `set()'.
-spec set() -> term().
set() -> builtin(set, []).
%% @doc `set(X)'.
-spec set(term()) -> term().
set(X) -> builtin(set, [X]).
%% @doc `sorted(X)'.
-spec sorted(term()) -> list().
sorted(X) -> builtin(sorted, [X]).
%% @doc `sorted(X, **Kwargs)' (e.g. `[{reverse, true}]').
-spec sorted(term(), kwargs()) -> list().
sorted(X, Kwargs) -> builtin(sorted, [X], Kwargs).
%% @doc `str(X)'.
-spec str(term()) -> binary().
str(X) -> builtin(str, [X]).
%% @doc `sum(X)'.
-spec sum(term()) -> number().
sum(X) -> builtin(sum, [X]).
%% @doc `sum(X, Start)'.
-spec sum(term(), number()) -> number().
sum(X, Start) -> builtin(sum, [X, Start]).
%% @doc `tuple(X)'.
-spec tuple(term()) -> tuple().
tuple(X) -> builtin(tuple, [X]).
%% @doc `type(X)' (a reference to the class).
-spec type(term()) -> term().
type(X) -> builtin(type, [X]).
%% @doc `vars(X)'.
-spec vars(term()) -> map().
vars(X) -> builtin(vars, [X]).
%% @doc `zip(A, B)' (an iterator: a reference).
-spec zip(term(), term()) -> term().
zip(A, B) -> builtin(zip, [A, B]).
%% @doc `list()' (lfex/py's name: `list' is taken in Erlang).
-spec pylist() -> list().
pylist() -> builtin(list, []).
%% @doc `list(X)'.
-spec pylist(term()) -> list().
pylist(X) -> builtin(list, [X]).
%% @doc `dir(X)', in full.
-spec pdir(term()) -> [binary()].
pdir(X) -> builtin(dir, [X]).
%% @doc `vars(X)', in full.
-spec pvars(term()) -> map().
pvars(X) -> builtin(vars, [X]).
%% @doc The name of `type(X)', e.g. `<<"int">>'.
-spec ptype(term()) -> binary().
ptype(X) -> attr(builtin(type, [X], []), '__name__').
%% @doc `repr(X)' as Python prints it.
-spec prepr(term()) -> binary().
prepr(X) -> builtin(repr, [X]).

%% =============================================================================
%% Operators (Python's operator module)
%% =============================================================================

%% @doc Calls `operator.Name(*Args)'.
-spec operator(name(), args()) -> term().
operator(Name, Args) -> operator(Name, Args, []).

%% @doc As `operator/2', with call options.
-spec operator(name(), args(), opts()) -> term().
operator(Name, Args, Opts) ->
    {Timeout, O} = pyactor_client:opts(Opts),
    pyactor_client:call({op, pyactor_client:name(Name, "operator name"), Args, O}, Timeout).

%% @doc `A < B'.
-spec lt(term(), term()) -> term().
lt(A, B) -> operator(lt, [A, B]).
%% @doc `A <= B'.
-spec le(term(), term()) -> term().
le(A, B) -> operator(le, [A, B]).
%% @doc `A == B'.
-spec eq(term(), term()) -> term().
eq(A, B) -> operator(eq, [A, B]).
%% @doc `A != B'.
-spec ne(term(), term()) -> term().
ne(A, B) -> operator(ne, [A, B]).
%% @doc `A >= B'.
-spec ge(term(), term()) -> term().
ge(A, B) -> operator(ge, [A, B]).
%% @doc `A > B'.
-spec gt(term(), term()) -> term().
gt(A, B) -> operator(gt, [A, B]).
%% @doc `not A'.
-spec 'not-'(term()) -> boolean().
'not-'(A) -> operator(not_, [A]).
%% @doc `bool(A)'.
-spec truth(term()) -> boolean().
truth(A) -> operator(truth, [A]).
%% @doc `A is B'.
-spec 'is-'(term(), term()) -> boolean().
'is-'(A, B) -> operator(is_, [A, B]).
%% @doc `A is not B'.
-spec 'is-not'(term(), term()) -> boolean().
'is-not'(A, B) -> operator(is_not, [A, B]).
%% @doc `A + B'.
-spec add(term(), term()) -> term().
add(A, B) -> operator(add, [A, B]).
%% @doc `A - B' (also on dates: `py:sub(Later, Earlier)' is a timedelta).
-spec sub(term(), term()) -> term().
sub(A, B) -> operator(sub, [A, B]).
%% @doc `A * B'.
-spec mul(term(), term()) -> term().
mul(A, B) -> operator(mul, [A, B]).
%% @doc `A / B'.
-spec truediv(term(), term()) -> term().
truediv(A, B) -> operator(truediv, [A, B]).
%% @doc `A // B'.
-spec floordiv(term(), term()) -> term().
floordiv(A, B) -> operator(floordiv, [A, B]).
%% @doc `A % B'.
-spec mod(term(), term()) -> term().
mod(A, B) -> operator(mod, [A, B]).
%% @doc `-A'.
-spec neg(term()) -> term().
neg(A) -> operator(neg, [A]).
%% @doc `+A'.
-spec pos(term()) -> term().
pos(A) -> operator(pos, [A]).
%% @doc `A & B'.
-spec 'and-'(term(), term()) -> term().
'and-'(A, B) -> operator(and_, [A, B]).
%% @doc `A | B'.
-spec 'or-'(term(), term()) -> term().
'or-'(A, B) -> operator(or_, [A, B]).
%% @doc `A ^ B'.
-spec 'xor'(term(), term()) -> term().
'xor'(A, B) -> operator('xor', [A, B]).
%% @doc `~A'.
-spec inv(term()) -> term().
inv(A) -> operator(inv, [A]).
%% @doc `~A'.
-spec invert(term()) -> term().
invert(A) -> operator(invert, [A]).
%% @doc `A << B'.
-spec lshift(term(), term()) -> term().
lshift(A, B) -> operator(lshift, [A, B]).
%% @doc `A >> B'.
-spec rshift(term(), term()) -> term().
rshift(A, B) -> operator(rshift, [A, B]).
%% @doc `A + B' for sequences.
-spec concat(term(), term()) -> term().
concat(A, B) -> operator(concat, [A, B]).
%% @doc `B in A'.
-spec contains(term(), term()) -> boolean().
contains(A, B) -> operator(contains, [A, B]).
%% @doc `A[B]'.
-spec getitem(term(), term()) -> term().
getitem(A, B) -> operator(getitem, [A, B]).

%% =============================================================================
%% Internals
%% =============================================================================

split_dotted(Name) when is_atom(Name) ->
    split_dotted(atom_to_binary(Name, utf8));
split_dotted(Name) when is_list(Name) ->
    split_dotted(pyactor_client:name(Name, "dotted name"));
split_dotted(Name) when is_binary(Name) ->
    case string:split(Name, <<".">>, trailing) of
        [Module, Function] when Module =/= <<>>, Function =/= <<>> -> {Module, Function};
        _ -> erlang:error({pyactor, {bad_request, <<"expected a dotted name module.name, got ",
                                                    Name/binary>>}})
    end;
split_dotted(Name) ->
    split_dotted(pyactor_client:name(Name, "dotted name")).

module_name(Module) -> pyactor_client:name(Module, "module name").

function_name(Function) -> pyactor_client:name(Function, "function name").
