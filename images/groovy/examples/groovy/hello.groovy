println "Hello, World!"
