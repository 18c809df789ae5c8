println "unclosed"(
