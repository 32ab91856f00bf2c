defmodule Pyactor.MixProject do
  use Mix.Project

  def project do
    [
      app: :pyactor_ex,
      version: "0.1.0",
      elixir: "~> 1.14",
      # the Erlang client next door, built with Debian's rebar3 (no Hex)
      deps: [{:pyactor, path: "../erlang", manager: :rebar3}]
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end
end
