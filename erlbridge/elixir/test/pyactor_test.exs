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

  test "async and await: timeouts, once per ref, only by its maker" do
    slow = Pyactor.async(:time, :sleep, [0.3])
    error = assert_raise ErlangError, fn -> Pyactor.await(slow, 0) end
    assert error.original == {:pyactor, :timeout}
    assert Pyactor.await(slow, :infinity) == nil
    error = assert_raise ErlangError, fn -> Pyactor.await(slow) end
    assert {:pyactor, {:bad_request, msg}} = error.original
    assert msg =~ "awaited already"
    error = assert_raise ErlangError, fn -> Pyactor.await(slow, -1) end
    assert {:pyactor, {:bad_request, msg}} = error.original
    assert msg =~ "-1"
    ref = Task.async(fn -> Pyactor.async(:operator, :add, [1, 2]) end) |> Task.await()
    error = assert_raise ErlangError, fn -> Pyactor.await(ref) end
    assert {:pyactor, {:bad_request, msg}} = error.original
    assert msg =~ "another process made it"
    late = Pyactor.async(:time, :sleep, [5], [], timeout: 200)
    error = assert_raise ErlangError, fn -> Pyactor.await(late) end
    assert error.original == {:pyactor, :timeout}
    assert Pyactor.await(Pyactor.async("math", "sqrt", [16])) == 4.0
  end

  test "broadcast, starmap and batch" do
    replies = Pyactor.broadcast(:os, :getpid)
    assert length(replies) == length(Pyactor.workers())
    pids = for {_id, {:ok, pid}} <- replies, do: pid
    assert length(Enum.uniq(pids)) == length(replies)
    assert [{_, {:ok, 8}} | _] = Pyactor.broadcast(:operator, :add, [3, 5], timeout: 10_000)
    assert Pyactor.starmap(:operator, :mul, [[2, 3], [4, 5]]) == [6, 20]
    assert Pyactor.map(:operator, :neg, [1, 2]) == [-1, -2]
    assert [{:ok, 2.0}, {:error, {:python, "ValueError", _, _}}, {:ok, 42}] =
             Pyactor.batch([{:math, :sqrt, [4], []}, {:math, :sqrt, [-1], []},
                            {:builtins, :int, ["101010"], [base: 2]}])
    error = assert_raise ErlangError, fn -> Pyactor.map(:math, :sqrt, [1, -1]) end
    assert {:python, :ValueError, _, _} = error.original
  end

  test "GenServer.call reaches the gateway directly" do
    node = :pyactor_conn.node()
    assert GenServer.call({:py, node}, :ping) == {:ok, :pong}
    assert GenServer.call({:py, node}, {:func, :math, :sqrt, [4], [], %{}}) == {:ok, 2.0}
  end
end
