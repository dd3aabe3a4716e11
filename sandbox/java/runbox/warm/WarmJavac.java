package runbox.warm;

import java.io.ByteArrayOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The warm compile program of Java (see notes in sandbox/languages/java.toml): a JVM started with
 * javac's own JVM options loads javac and compiles a built-in sample in /tmp a few times (so its
 * hot paths are already JIT-compiled), then blocks reading the control pipe on fd 3. The message
 * there is the cold compile's command line ("/usr/bin/javac", its -J options, javac's options and
 * the sources, each followed by NUL); the JVM then does what javac's launcher would do with it:
 * javac's own main with the same arguments (without the -J options, which this JVM was started
 * with), so diagnostics, output files and exit status are javac's.
 */
public final class WarmJavac {
    private static final String JAVAC = "/usr/bin/javac";
    private static final int CONTROL_FD = 3;
    /** Exit status for a hand-over that is missing or not what this program serves. */
    private static final int REFUSED = 125;
    /**
     * Options of this JVM that are not the compile's -J options: the initial heap and root
     * modules javac's launcher gives its JVM, and java.io opened for the control pipe's fd.
     */
    private static final List<String> OWN_OPTIONS = List.of(
        "-Xms8m", "--add-modules", "ALL-DEFAULT", "--add-opens", "java.base/java.io=ALL-UNNAMED");

    private WarmJavac() {}

    public static void main(String[] args) throws Exception {
        List<String> javacArgs;
        try {
            javacArgs = handOver(args.length > 0 ? Integer.parseInt(args[0]) : 0);
        } catch (Throwable e) {
            javacArgs = null;  // nothing of this program may reach the step's output
        }
        if (javacArgs == null) {
            Runtime.getRuntime().halt(REFUSED);
            return;
        }
        com.sun.tools.javac.Main.main(javacArgs.toArray(new String[0]));
    }

    /**
     * Warms up with `rounds` compiles, waits for the hand-over: javac's arguments if it is the
     * command line of a javac this JVM can stand in for, else null.
     */
    private static List<String> handOver(int rounds) throws Exception {
        // What javac's launcher sets: with it javac's default class path is "." (without it, this
        // JVM's own class path, the warm program's jar).
        String home = System.getProperty("java.home");
        System.setProperty("application.home", home);
        List<String> jvmOptions = jvmOptions();
        // /usr/bin/javac of another JDK than this JVM's would compile otherwise.
        boolean sameJdk = Path.of(JAVAC).toRealPath().equals(Path.of(home, "bin", "javac").toRealPath());
        if (rounds > 0) {
            try {
                warmUp(rounds);
            } catch (Exception e) {
                // Only slower.
            }
            // The warm-up's garbage is collected now, not during the program's compile.
            System.gc();
        }
        List<String> argv = readControl();
        if (!sameJdk || jvmOptions == null || argv == null || argv.isEmpty() || !argv.get(0).equals(JAVAC)) {
            return null;
        }
        List<String> javacArgs = new ArrayList<>();
        List<String> coldJvmOptions = new ArrayList<>();
        for (String arg : argv.subList(1, argv.size())) {
            if (arg.startsWith("-J")) {
                coldJvmOptions.add(arg.substring(2));
            } else {
                javacArgs.add(arg);
            }
        }
        // This JVM must have been started with exactly the cold compile's JVM options.
        return jvmOptions.equals(coldJvmOptions) ? javacArgs : null;
    }

    /**
     * The options this JVM was started with that javac's launcher would have been given as -J
     * options: its command line (from /proc) between the java launcher and `-cp`, without the
     * ones javac's launcher adds itself or this program needs (OWN_OPTIONS). Null where /proc
     * cannot say.
     */
    private static List<String> jvmOptions() {
        List<String> cmdline;
        try {
            cmdline = split(Files.readAllBytes(Path.of("/proc/self/cmdline")));
        } catch (IOException e) {
            return null;
        }
        if (cmdline == null || !cmdline.contains("-cp")) {
            return null;
        }
        List<String> options = new ArrayList<>(cmdline.subList(1, cmdline.indexOf("-cp")));
        for (String own : OWN_OPTIONS) {
            if (!options.remove(own)) {
                return null;
            }
        }
        return options;
    }

    /** Compile SAMPLE `rounds` times in a fresh directory of /tmp, then remove it. */
    private static void warmUp(int rounds) throws IOException {
        Path dir = Files.createTempDirectory("warm-javac");
        try {
            Path source = dir.resolve("Main.java");
            Files.writeString(source, SAMPLE);
            PrintWriter sink = new PrintWriter(OutputStream.nullOutputStream());
            String[] javacArgs = {"-encoding", "UTF-8", "-d", dir.toString(), source.toString()};
            for (int i = 0; i < rounds; i++) {
                com.sun.tools.javac.Main.compile(javacArgs, sink);
            }
        } finally {
            try (Stream<Path> walk = Files.walk(dir)) {
                for (Path p : (Iterable<Path>) walk.sorted(Comparator.reverseOrder())::iterator) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    /**
     * The hand-over: fd 3 read to its end and closed (the compiler never sees it), split at NUL
     * bytes (each element ends with one). Null if there was no message or it was malformed.
     */
    static List<String> readControl() throws ReflectiveOperationException, IOException {
        Field number = FileDescriptor.class.getDeclaredField("fd");
        number.setAccessible(true);
        // The protocol's ready byte on the ready pipe (fd 4, then closed): the pool hands a run
        // only to a warm sandbox that said it waits.
        FileDescriptor readyFd = new FileDescriptor();
        number.setInt(readyFd, CONTROL_FD + 1);
        try (OutputStream ready = new FileOutputStream(readyFd)) {
            ready.write('R');
        }
        FileDescriptor fd = new FileDescriptor();
        number.setInt(fd, CONTROL_FD);
        ByteArrayOutputStream message = new ByteArrayOutputStream();
        // Not readAllBytes: on JDK 17 it asks a pipe for its position and fails.
        try (InputStream control = new FileInputStream(fd)) {
            byte[] buffer = new byte[8192];
            for (int n; (n = control.read(buffer)) > 0; ) {
                message.write(buffer, 0, n);
            }
        }
        return split(message.toByteArray());
    }

    /** Each element followed by one NUL; null if the bytes are not that. */
    private static List<String> split(byte[] raw) {
        if (raw.length == 0 || raw[raw.length - 1] != 0) {
            return null;
        }
        List<String> parts = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < raw.length; i++) {
            if (raw[i] == 0) {
                parts.add(new String(raw, start, i - start, StandardCharsets.UTF_8));
                start = i + 1;
            }
        }
        return parts;
    }

    /** What the JIT is warmed with: the constructs most submissions use. */
    private static final String SAMPLE = String.join("\n",
        "import java.util.*;",
        "import java.util.function.*;",
        "import java.util.stream.*;",
        "import java.io.*;",
        "",
        "public class Main {",
        "    record Point(int x, int y) {}",
        "    interface Shape { double area(); }",
        "    static final class Square implements Shape {",
        "        private final double side;",
        "        Square(double side) { this.side = side; }",
        "        public double area() { return side * side; }",
        "    }",
        "    enum Color { RED, GREEN }",
        "",
        "    static <T extends Comparable<T>> T max(List<T> xs) {",
        "        T best = xs.get(0);",
        "        for (T x : xs) if (x.compareTo(best) > 0) best = x;",
        "        return best;",
        "    }",
        "",
        "    public static void main(String[] args) throws IOException {",
        "        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));",
        "        Scanner sc = new Scanner(System.in);",
        "        Map<String, List<Integer>> groups = new HashMap<>();",
        "        List raw = new ArrayList();",
        "        raw.add(1);",
        "        int[] arr = {3, 1, 2};",
        "        Arrays.sort(arr);",
        "        long total = 0;",
        "        for (int i = 0; i < arr.length; i++) { total += (long) arr[i] * i; }",
        "        String s = switch (Color.RED) { case RED -> \"r\"; case GREEN -> \"g\"; };",
        "        Function<Integer, Integer> twice = x -> x * 2;",
        "        List<Integer> xs = IntStream.range(0, 10).boxed().map(twice).collect(Collectors.toList());",
        "        Shape sq = new Square(2);",
        "        Runnable r = new Runnable() { public void run() { System.out.println(sq.area()); } };",
        "        r.run();",
        "        StringBuilder sb = new StringBuilder();",
        "        sb.append(String.format(\"%d %s %s %d%n\", max(xs), new Point(1, 2), s, total));",
        "        try {",
        "            Optional.ofNullable(groups.get(\"a\")).orElseThrow();",
        "        } catch (NoSuchElementException e) {",
        "            System.out.print(sb);",
        "        }",
        "        System.out.println(\"Hello, world!\");",
        "    }",
        "}",
        "");
}
