import java.io.*;
import java.util.*;

public class Warm {
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        StringBuilder sb = new StringBuilder();
        List<Integer> xs = new ArrayList<>(List.of(3, 1, 2));
        Collections.sort(xs);
        Map<String, Integer> m = new HashMap<>();
        m.put("a", 1);
        Scanner sc = new Scanner("1 2");
        sb.append(xs).append(m).append(sc.nextInt()).append(String.format("%d", 1));
        System.out.println(sb);
    }
}
