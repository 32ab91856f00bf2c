#!/usr/bin/env escript
%% Conformance vectors for the ETF codec, made by a real Erlang node.
%% Prints one line per vector: NAME TAB INPUT_HEX TAB EXPECTED_HEX, where
%% EXPECTED is term_to_binary(binary_to_term(INPUT), [{minor_version, 2}]).
%% With a directory argument, also writes each INPUT there as a file (a fuzz
%% seed corpus).
-mode(compile).

canonical(T) -> term_to_binary(T, [{minor_version, 2}]).

node_atom() -> 'remote@host.example'.

%% Bytes of an atom in the old latin1 form.
old_atom(A) -> B = atom_to_binary(A, latin1), <<100, (byte_size(B)):16, B/binary>>.
utf8_atom(A) -> B = atom_to_binary(A, utf8), <<119, (byte_size(B)), B/binary>>.

terms() ->
    Self = self(),
    N = 5,
    Pid = binary_to_term(<<131, 88, (utf8_atom(node_atom()))/binary, 0, 0, 0, 85, 0, 0, 0, 3,
                           16#12, 16#34, 16#56, 16#78>>),
    Big = lists:foldl(fun(I, Acc) -> Acc * 1000003 + I end, 1, lists:seq(1, 90)),
    [{"int 0", 0}, {"int 1", 1}, {"int 255", 255}, {"int 256", 256}, {"int -1", -1},
     {"int -256", -256}, {"int 2^31-1", 2147483647}, {"int 2^31", 2147483648},
     {"int -2^31", -2147483648}, {"int -2^31-1", -2147483649},
     {"int 2^63-1", (1 bsl 63) - 1}, {"int 2^63", 1 bsl 63}, {"int -2^63", -(1 bsl 63)},
     {"int -2^63-1", -(1 bsl 63) - 1}, {"int 2^64-1", (1 bsl 64) - 1}, {"int 2^64", 1 bsl 64},
     {"int -2^64", -(1 bsl 64)}, {"int 2^100", 1 bsl 100}, {"int -(2^200)+7", -(1 bsl 200) + 7},
     {"int 2^2100", 1 bsl 2100}, {"int -2^2100", -(1 bsl 2100)}, {"int big product", Big},
     {"float 0.0", 0.0}, {"float -0.0", -0.0}, {"float 1.5", 1.5}, {"float -1e300", -1.0e300},
     {"float denormal", 5.0e-324}, {"float pi", math:pi()}, {"float 1e100", 1.0e100},
     {"atom a", a}, {"atom true", true}, {"atom false", false}, {"atom undefined", undefined},
     {"atom nil", nil}, {"atom empty", ''}, {"atom spaces", 'hello world'},
     {"atom latin1", 'ÿé'}, {"atom utf8", 'Ωmega'},
     {"atom 255 ascii", list_to_atom(lists:duplicate(255, $a))},
     {"atom 255 emoji", list_to_atom(lists:duplicate(255, 16#1F600))},
     {"atom bytes", bytes},
     {"binary empty", <<>>}, {"binary text", <<"text">>}, {"binary non-utf8", <<255, 0, 1>>},
     {"binary utf8", <<"héllo wörld"/utf8>>}, {"binary 70000", binary:copy(<<"ab">>, 35000)},
     {"bits 1:3", <<1:3>>}, {"bits 1,2,3:5", <<1, 2, 3:5>>}, {"bits 7 bits", <<127:7>>},
     {"list nil", []}, {"list 1,2,3", [1, 2, 3]}, {"list string", "abc"},
     {"list 0..255", lists:seq(0, 255)}, {"list 1..300", lists:seq(1, 300)},
     {"list 70000 ones", lists:duplicate(70000, 1)}, {"list mixed", [a, 1, -1, 2.5, <<"b">>]},
     {"list nested", [[], [[]], "x", [1 | [2]]]}, {"list strings", ["ab" | "cd"]},
     {"improper [a|b]", [a | b]}, {"improper [1,2|3]", [1, 2 | 3]},
     {"improper [a,b|<<x>>]", [a, b | <<"x">>]}, {"improper tail tuple", [{bytes, <<"z">>} | {}]},
     {"improper gen_call tag", [alias | make_ref()]},
     {"tuple empty", {}}, {"tuple 1", {a}}, {"tuple 3", {1, 2, 3}},
     {"tuple 255", list_to_tuple(lists:seq(1, 255))},
     {"tuple 256", list_to_tuple(lists:seq(1, 256))},
     {"tuple 300 mixed", list_to_tuple([{I, <<I:16>>} || I <- lists:seq(1, 300)])},
     {"tuple bytes", {bytes, <<1, 2>>}}, {"tuple date", {<<"date">>, {1923, 4, 2}}},
     {"tuple objref", {'$pyactor_ref', 7, 42, <<"list">>}},
     {"map empty", #{}}, {"map one", #{a => 1}},
     {"map mixed keys", #{1 => a, a => 1, "x" => 3, <<"b">> => {}, {t} => [], 2.5 => x}},
     {"map 33 keys", maps:from_list([{I, I * I} || I <- lists:seq(1, 33)])},
     {"map 100 binary keys", maps:from_list([{integer_to_binary(I), I} || I <- lists:seq(1, 100)])},
     {"map nested", #{a => #{b => #{c => [#{}]}}}},
     {"map 1 and 1.0", #{1 => int, 1.0 => float}},
     {"pid self", Self}, {"pid remote", Pid}, {"pid local 0.1.0", list_to_pid("<0.1.0>")},
     {"port", hd(erlang:ports())},
     {"ref", make_ref()}, {"ref alias", alias()},
     {"ref remote", binary_to_term(<<131, 90, 0, 3, (utf8_atom(node_atom()))/binary,
                                     0, 0, 0, 9, 1:32, 2:32, 3:32>>)},
     {"fun export", fun lists:map/2}, {"fun export bif", fun erlang:'+'/2},
     {"fun local", fun(X) -> X + 1 end}, {"fun closure", fun(X) -> X + N end},
     {"fun closure env", fun() -> {Self, #{k => [Pid]}, <<1:3>>} end},
     {"mixed reply", {ok, [#{<<"k">> => [1.5, {a, <<"b">>}], n => nil}]}},
     {"deep 500", lists:foldl(fun(_, A) -> {A} end, x, lists:seq(1, 500))},
     {"deep list 400", lists:foldl(fun(_, A) -> [A] end, [], lists:seq(1, 400))}].

%% Inputs in old or non-canonical forms, made by hand; Erlang says what they mean.
handmade() ->
    Node = old_atom('a@b'),
    [{"old PID_EXT", <<131, 103, Node/binary, 0, 0, 0, 7, 0, 0, 0, 1, 2>>},
     {"old PORT_EXT", <<131, 102, Node/binary, 0, 0, 0, 7, 2>>},
     {"old REFERENCE_EXT", <<131, 101, Node/binary, 0, 0, 0, 7, 2>>},
     {"old NEW_REFERENCE_EXT", <<131, 114, 0, 3, Node/binary, 1, 1:32, 2:32, 3:32>>},
     {"V4_PORT small id", <<131, 120, Node/binary, 0:32, 7:32, 2:32>>},
     {"V4_PORT big id", <<131, 120, Node/binary, 1:32, 7:32, 2:32>>},
     {"NEW_PORT", <<131, 89, Node/binary, 7:32, 2:32>>},
     {"ATOM_EXT latin1", <<131, 100, 0, 3, "a", 255, "b">>},
     {"SMALL_ATOM_EXT", <<131, 115, 2, "ok">>},
     {"ATOM_UTF8_EXT short", <<131, 118, 0, 2, "ok">>},
     {"FLOAT_EXT", <<131, 99, "1.50000000000000000000e+00", 0, 0, 0, 0, 0>>},
     {"FLOAT_EXT negative", <<131, 99, "-2.50000000000000000000e-03", 0, 0, 0, 0>>},
     {"INTEGER_EXT small", <<131, 98, 0, 0, 0, 5>>},
     {"SMALL_BIG small", <<131, 110, 2, 0, 5, 0>>},
     {"SMALL_BIG zero", <<131, 110, 0, 0>>},
     {"SMALL_BIG -2^31", <<131, 110, 4, 1, 0, 0, 0, 128>>},
     {"LARGE_BIG small", <<131, 111, 0, 0, 0, 1, 1, 9>>},
     {"LIST of small ints", <<131, 108, 0, 0, 0, 2, 97, 1, 97, 2, 106>>},
     {"LIST split tail", <<131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 1, 100, 0, 1, "a", 106>>},
     {"LIST STRING tail", <<131, 108, 0, 0, 0, 1, 97, 1, 107, 0, 2, 5, 6>>},
     {"LIST improper split", <<131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 1, 97, 2, 97, 3>>},
     {"BIT_BINARY 8 bits", <<131, 77, 0, 0, 0, 1, 8, 5>>},
     {"BIT_BINARY unused bits", <<131, 77, 0, 0, 0, 1, 3, 255>>},
     {"BIT_BINARY empty", <<131, 77, 0, 0, 0, 0, 0>>},
     {"pid in old-atom fun env", term_to_binary(fun() -> self() end)},
     {"default minor_version", term_to_binary({'ÿ', 1.5, [a]})},
     {"minor_version 0", term_to_binary({1.5, abc}, [{minor_version, 0}])}].

compressed() ->
    [{"compressed " ++ Name, term_to_binary(T, [compressed, {minor_version, 2}])}
     || {Name, T} <- [{"small", {a, b}},
                      {"list", lists:seq(1, 1000)},
                      {"binary", binary:copy(<<"pyactor ">>, 10000)},
                      {"map", maps:from_list([{I, <<"v">>} || I <- lists:seq(1, 200)])}]]
    ++ [{"compressed level 9", term_to_binary(lists:duplicate(5000, hello), [{compressed, 9}])}].

hex(B) -> binary:encode_hex(B).

main(Args) ->
    Vectors = [{Name, canonical(T)} || {Name, T} <- terms()] ++ handmade() ++ compressed(),
    lists:foreach(
      fun({Name, In}) ->
              Expected = canonical(binary_to_term(In)),
              io:format("~ts\t~s\t~s~n", [Name, hex(In), hex(Expected)])
      end, Vectors),
    case Args of
        [Dir] ->
            lists:foldl(fun({_, In}, I) ->
                                ok = file:write_file(filename:join(Dir, "v" ++ integer_to_list(I)), In),
                                I + 1
                        end, 0, Vectors);
        _ -> ok
    end,
    halt(0).
