defmodule Pyactor do
  @moduledoc """
  Python from Elixir, on a pyactor gateway: a thin layer over the Erlang
  `:py` module (erlbridge/erlang).

  Values cross as in pyactor's design: integers of any size, floats, atoms,
  `true`/`false`, `nil` (Python's None), binaries are `str` (use
  `{:bytes, bin}` for `bytes`), lists, tuples, maps, by-value types as
  `{"datetime", {y, mo, d, h, mi, s, us, tz}}` and friends, and other objects
  as references that `method/4`, `attr/2` and `builtin/3` accept. Pids, refs
  and funs pass through Python unchanged.

  Results are bare values; errors raise `ErlangError` with the original
  `{:python, type, message, traceback}` or `{:pyactor, reason}` term.

      Application.ensure_all_started(:pyactor)   # starts a gateway
      Pyactor.call(:math, :sqrt, [2.0])          #=> 1.4142135623730951
      Pyactor.call(:"os.path", :isdir, ["/tmp"]) #=> true
  """

  @type name :: atom | String.t()

  @doc "Calls `module.function(*args, **kwargs)`; `opts` takes `timeout:` (ms), `worker:`, `by_ref:`."
  @spec call(name, name, list, keyword | map, keyword) :: term
  def call(module, function, args \\ [], kwargs \\ [], opts \\ []) do
    from_py(:py.func(module, function, to_py(args), to_py(kwargs), opts))
  end

  @doc "Reads `module.name`, optionally cast with `:int`, `:float` or `:str`."
  @spec const(name, name, :int | :float | :str | nil) :: term
  def const(module, name, cast \\ nil) do
    from_py(:py.const(module, name, cast || :undefined))
  end

  @doc "Instantiates `module.class(*args, **kwargs)`."
  @spec init(name, name, list, keyword | map) :: term
  def init(module, class, args \\ [], kwargs \\ []) do
    from_py(:py.init(module, class, to_py(args), to_py(kwargs)))
  end

  @doc "Calls `object.name(*args, **kwargs)` on a value or an object reference."
  @spec method(term, name, list, keyword | map) :: term
  def method(object, name, args \\ [], kwargs \\ []) do
    from_py(:py.method(to_py(object), name, to_py(args), to_py(kwargs)))
  end

  @doc "Reads `object.name`."
  @spec attr(term, name) :: term
  def attr(object, name), do: from_py(:py.attr(to_py(object), name))

  @doc "Calls a Python builtin: `Pyactor.builtin(:len, [[1, 2]])`."
  @spec builtin(name, list, keyword | map) :: term
  def builtin(name, args, kwargs \\ []) do
    from_py(:py.builtin(name, to_py(args), to_py(kwargs)))
  end

  @doc "Calls a function of Python's `operator` module: `Pyactor.operator(:add, [1, 2])`."
  @spec operator(name, list) :: term
  def operator(name, args), do: from_py(:py.operator(name, to_py(args)))

  @doc "Evaluates a Python expression with local variables."
  @spec eval(String.t(), map | keyword) :: term
  def eval(expression, locals \\ %{}), do: from_py(:py.eval(expression, to_py(locals)))

  @doc "`function(item)` for every item, spread over the workers; results in order."
  @spec map(name, name, list, keyword) :: list
  def map(module, function, items, opts \\ []) do
    from_py(:py.map(module, function, to_py(items), opts))
  end

  @doc "`function(*args)` for every argument list, spread over the workers."
  @spec starmap(name, name, [list], keyword) :: list
  def starmap(module, function, arg_lists, opts \\ []) do
    from_py(:py.starmap(module, function, to_py(arg_lists), opts))
  end

  @doc "The same call on every worker: `[{worker_id, {:ok, v} | {:error, e}}]`."
  @spec broadcast(name, name, list, keyword) :: list
  def broadcast(module, function, args \\ [], opts \\ []) do
    from_py(:py.broadcast(module, function, to_py(args), opts))
  end

  @doc """
  Several different calls `{module, function, args, kwargs}` in one message to
  one worker: `[{:ok, v} | {:error, e}]`, in order (an error does not stop the
  calls after it).
  """
  @spec batch([{name, name, list, keyword | map}], keyword) :: [{:ok, term} | {:error, term}]
  def batch(calls, opts \\ []) do
    calls
    |> Enum.map(fn {m, f, args, kwargs} -> {m, f, to_py(args), to_py(kwargs)} end)
    |> :py.batch(opts)
    |> from_py()
  end

  @doc "Starts a call and returns at once; `await/2` takes the result."
  @spec async(name, name, list, keyword | map, keyword) :: :py.async_ref()
  def async(module, function, args \\ [], kwargs \\ [], opts \\ []) do
    :py.async_func(module, function, to_py(args), to_py(kwargs), opts)
  end

  @doc """
  Waits for an `async/5` result (by default up to the call's own deadline;
  `timeout` in ms, or `:infinity`). Only the process that called `async/5`
  can await, once; after a `{:pyactor, :timeout}` error it may wait again.
  """
  @spec await(:py.async_ref(), timeout | :default) :: term
  def await(ref, timeout \\ :default) do
    case timeout do
      :default -> from_py(:py.await(ref))
      t -> from_py(:py.await(ref, t))
    end
  end

  @doc "Frees the object behind a reference."
  @spec release(:py.pyref()) :: 0 | 1
  def release(ref), do: :py.release(ref)

  @doc "Uses a gateway that already runs as `node`."
  @spec connect(node) :: :ok | {:error, term}
  def connect(node), do: :py.connect(node)

  @doc "The ids of the ready workers."
  @spec workers() :: [pos_integer]
  def workers, do: :py.workers()

  @doc "Every worker slot with its pid, state and counters."
  @spec status() :: [map]
  def status, do: from_py(:py.status())

  @doc "Starts `n` more workers; returns their ids."
  @spec add_workers(pos_integer) :: [pos_integer]
  def add_workers(n), do: :py.add_workers(n)

  @doc "Versions of Erlang, pyactor and the workers' Python."
  @spec versions() :: keyword
  def versions, do: from_py(:py.get_versions())

  @doc false
  # Elixir's nil is Python's None, which Erlang spells `undefined`.
  def to_py(nil), do: :undefined
  def to_py(list) when is_list(list), do: to_py_list(list)
  def to_py(map) when is_map(map) and not is_struct(map),
    do: Map.new(map, fn {k, v} -> {to_py(k), to_py(v)} end)
  def to_py(tuple) when is_tuple(tuple),
    do: tuple |> Tuple.to_list() |> Enum.map(&to_py/1) |> List.to_tuple()
  def to_py(other), do: other

  @doc false
  def from_py(:undefined), do: nil
  def from_py(list) when is_list(list), do: from_py_list(list)
  def from_py(map) when is_map(map),
    do: Map.new(map, fn {k, v} -> {from_py(k), from_py(v)} end)
  def from_py(tuple) when is_tuple(tuple),
    do: tuple |> Tuple.to_list() |> Enum.map(&from_py/1) |> List.to_tuple()
  def from_py(other), do: other

  # Lists may be improper ([a | b] passes through Python as an opaque value).
  defp to_py_list([h | t]), do: [to_py(h) | to_py_list(t)]
  defp to_py_list([]), do: []
  defp to_py_list(tail), do: to_py(tail)
  defp from_py_list([h | t]), do: [from_py(h) | from_py_list(t)]
  defp from_py_list([]), do: []
  defp from_py_list(tail), do: from_py(tail)
end
