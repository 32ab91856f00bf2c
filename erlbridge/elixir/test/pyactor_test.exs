defmodule PyactorTest do
  use ExUnit.Case
  import Bitwise

  test "calls, constants and objects" do
    assert Pyactor.call(:math, :sqrt, [2.0]) == 1.4142135623730951
    assert Pyactor.call(:"os.path", :isdir, ["/tmp"]) == true
    assert Pyactor.call(:builtins, :int, ["101010"], base: 2) == 42
    assert Pyactor.const(:math, :pi, :int) == 3
    assert Pyactor.init(:datetime, :date, [1923, 4, 2]) == {"date", {1923, 4, 2}}
    now = Pyactor.call(:"datetime.datetime", :now)
    assert {"datetime", {year, _, _, _, _, _, _, nil}} = now
    assert Pyactor.attr(now, :year) == year
    assert Pyactor.operator(:add, [37, 5]) == 42
    assert Pyactor.builtin(:pow, [6, 42]) == 481_229_803_398_374_426_442_198_455_156_736
    range = Pyactor.builtin(:range, [7, 42])
    assert Pyactor.builtin(:len, [range]) == 35
    assert Pyactor.release(range) == 1
  end

  test "values cross both ways, nil is None" do
    for v <- [nil, true, 1 <<< 100, -0.5, "héllo", :atom, [1, [nil]], {1, {"x", nil}},
              %{"k" => nil, 1 => [2]}, self(), make_ref(), fn -> :ok end] do
      assert Pyactor.call(:copy, :copy, [v]) == v
    end
    assert Pyactor.eval("x is None", %{x: nil}) == true
    assert Pyactor.call(:builtins, :len, [{:bytes, <<1, 2, 3>>}]) == 3
  end

  test "errors raise with the original term" do
    error = assert_raise ErlangError, fn -> Pyactor.operator(:truediv, [1, 0]) end
    assert {:python, :ZeroDivisionError, "division by zero", _} = error.original
    error = assert_raise ErlangError, fn -> Pyactor.call(:time, :sleep, [5], [], timeout: 200) end
    assert error.original == {:pyactor, :timeout}
  end

  test "concurrent callers each get their own results" do
    results =
      1..20
      |> Task.async_stream(fn p -> for i <- 1..50, do: Pyactor.operator(:add, [p * 1000, i]) end,
        max_concurrency: 20, timeout: 60_000)
      |> Enum.map(fn {:ok, r} -> r end)

    assert results == for(p <- 1..20, do: for(i <- 1..50, do: p * 1000 + i))
  end

  test "async, map and the pool" do
    refs = for i <- 1..10, do: Pyactor.async(:operator, :mul, [i, i])
    assert Enum.map(refs, &Pyactor.await/1) == for(i <- 1..10, do: i * i)
    assert Pyactor.map(:math, :sqrt, [1, 4, 9]) == [1.0, 2.0, 3.0]
    assert length(Pyactor.workers()) == 2
    assert [%{id: _, pid: _, state: _} | _] = Pyactor.status()
  end

  test "GenServer.call reaches the gateway directly" do
    node = :pyactor_conn.node()
    assert GenServer.call({:py, node}, :ping) == {:ok, :pong}
    assert GenServer.call({:py, node}, {:func, :math, :sqrt, [4], [], %{}}) == {:ok, 2.0}
  end
end
