object Main {
  def main(args: Array[String]): Unit = println(scala.io.StdIn.readLine())
}
