# A distributed node (a private epmd comes from erlbridge/tests/run_exunit.sh),
# then the pyactor application, which starts a real gateway and workers.
{:ok, _} = Node.start(:"pyactor_exunit_#{System.pid()}", :shortnames)
Application.load(:pyactor)
Application.put_env(:pyactor, :workers, 2)
{:ok, _} = Application.ensure_all_started(:pyactor)

case System.get_env("PYACTOR_TEST_PIDS") do
  nil -> :ok
  file -> File.write!(file, "#{:pyactor_conn.gateway_os_pid()}\n", [:append])
end

ExUnit.after_suite(fn _ -> Application.stop(:pyactor) end)
ExUnit.start()
