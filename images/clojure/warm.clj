; Run once at image build, to record the classes clojure.main loads (see Dockerfile).
(println (reduce + (map count (clojure.string/split (read-line) #" "))))
