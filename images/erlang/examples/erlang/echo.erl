-module(main).
-export([main/1]).

main(_) -> io:format("~s", [io:get_line("")]).
