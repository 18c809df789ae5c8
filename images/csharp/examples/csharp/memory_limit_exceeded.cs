using System.Collections.Generic;

public class Program
{
    public static void Main()
    {
        var blocks = new List<long[]>();
        while (true) blocks.Add(new long[16 << 20]);
    }
}
