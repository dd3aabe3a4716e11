package runbox.warm;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.StringReader;
import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.Instrumentation;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.ProtectionDomain;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Scanner;
import java.util.Set;
import java.util.StringTokenizer;
import java.util.stream.Collectors;

/**
 * The warm run program of Java (see sandbox/languages/java.toml): a Java agent of the run's own
 * JVM, started as `java OPTIONS -javaagent:warm-run.jar Main` before the program exists. Its
 * premain runs while the JVM starts, before the launcher looks for Main: it blocks reading the
 * control pipe on fd 3, checks that the hand-over is this very command line (the cold run's,
 * without -javaagent) and returns. The launcher then does what it does in a cold `java Main`:
 * loads Main from the class path "." (/box, filled by now), calls main from the JVM's main
 * thread, prints an uncaught exception and sets the exit status itself; no frame of this agent
 * is left on the stack. The program's arguments, known only at the hand-over, are the one thing
 * the launcher cannot pass (it was started with none): the first call of a main(String[]) with
 * the launcher's empty array gets them instead, by one instruction put at the start of main as
 * its class is loaded (only when there are arguments).
 */
public final class WarmRun {
    private static final String JAVA = "/usr/bin/java";
    private static final String MAIN = "Main";
    private static final int CONTROL_FD = 3;
    /** Exit status for a hand-over that is missing or not what this JVM was started for. */
    private static final int REFUSED = 125;

    private static volatile String[] programArgs;
    /** WarmRunInternals.rewrite, in its own class loader. */
    private static Method rewrite;

    private WarmRun() {}

    public static void premain(String options, Instrumentation inst) {
        try {
            if (handOver(inst)) {
                return;
            }
        } catch (Throwable e) {
            // Falls through: nothing of this agent may reach the step's output.
        }
        Runtime.getRuntime().halt(REFUSED);
    }

    /** Waits for the hand-over; true if it is this JVM's command line (then set up for it). */
    private static boolean handOver(Instrumentation inst) throws Exception {
        // What needs the JDK's internals (the pipe's fd, ASM) runs in a class loader of its own,
        // and only its unnamed module is given them: not the class path's, where Main will be.
        URL jar = WarmRun.class.getProtectionDomain().getCodeSource().getLocation();
        URLClassLoader isolated = new URLClassLoader(new URL[] {jar}, ClassLoader.getPlatformClassLoader());
        Class<?> internals = isolated.loadClass("runbox.warm.WarmRunInternals");
        inst.redefineModule(Object.class.getModule(), Set.of(),
                            Map.of("jdk.internal.org.objectweb.asm", Set.of(internals.getModule())),
                            Map.of("java.io", Set.of(internals.getModule())), Set.of(), Map.of());
        rewrite = internals.getMethod("rewrite", byte[].class);
        Method readControl = internals.getMethod("readControl", int.class);
        List<String> started = split(Files.readAllBytes(Path.of("/proc/self/cmdline")));
        try {
            warmUp();
        } catch (Exception e) {
            // Only slower.
        }
        List<String> argv = split((byte[]) readControl.invoke(null, CONTROL_FD));
        isolated.close();  // all it defines is loaded by now (the warm-up rewrote a class)
        if (started == null || argv == null) {
            return false;
        }
        // The cold command is this JVM's own command line without the agent, then the arguments.
        List<String> expected = new ArrayList<>();
        for (String part : started) {
            if (!part.startsWith("-javaagent:")) {
                expected.add(part);
            }
        }
        if (expected.size() < 2 || !expected.get(0).equals(JAVA)
                || !expected.get(expected.size() - 1).equals(MAIN) || argv.size() < expected.size()
                || !argv.subList(0, expected.size()).equals(expected)) {
            return false;
        }
        List<String> args = argv.subList(expected.size(), argv.size());
        if (!args.isEmpty()) {
            programArgs = args.toArray(new String[0]);
            inst.addTransformer(new ArgsTransformer());
        }
        return true;
    }

    /**
     * What a cold JVM would do only after the hand-over, done before it: the launcher's helper
     * and the class path's file loader, the first write through an encoder (as System.out's),
     * the rewrite of a main for program arguments, and the JDK's code behind what most programs
     * use first (string concatenation and lambdas are bootstrapped at their first use, each
     * costing milliseconds). Nothing a program can see: the output goes nowhere, System.in is
     * not touched, no property is set.
     */
    private static void warmUp() throws Exception {
        // The rewrite of a main for program arguments (ASM's classes), on a class with a main.
        try (InputStream sample = WarmRun.class.getResourceAsStream("WarmJavac.class")) {
            if (sample != null) {
                rewrite.invoke(null, (Object) sample.readAllBytes());
            }
        }
        Class.forName("sun.launcher.LauncherHelper", true, null);
        for (String name : new String[] {"jdk.internal.loader.URLClassPath$FileLoader$1",
                                         "java.util.ArrayList$SubList",
                                         "java.util.IdentityHashMap$KeyIterator", "java.lang.Shutdown",
                                         "java.lang.Shutdown$Lock"}) {
            Class.forName(name, false, null);
        }
        PrintStream sink = new PrintStream(OutputStream.nullOutputStream(), true,
                                           Charset.defaultCharset());
        int n = 3;
        long total = 0;
        String text = "warm " + n + " " + total + " " + 2.5;
        sink.println(text);
        sink.printf("%d %s %.2f%n", n, text, 1.5);
        Scanner in = new Scanner("1 2\nthree\n");
        total += in.nextInt() + in.nextLong();
        sink.println(in.next());
        BufferedReader reader = new BufferedReader(new StringReader("4 5\n"));
        StringTokenizer tokens = new StringTokenizer(reader.readLine());
        total += Integer.parseInt(tokens.nextToken()) + Long.parseLong(tokens.nextToken());
        List<Integer> xs = new ArrayList<>(List.of(3, 1, 2));
        Collections.sort(xs);
        Map<String, Integer> counts = new HashMap<>();
        counts.merge(text, 1, Integer::sum);
        int[] arr = {3, 1, 2};
        Arrays.sort(arr);
        sink.println(xs.stream().map(x -> x * 2).collect(Collectors.toList()) + " " + total
                     + Arrays.toString(arr) + counts + new StringBuilder("ab").reverse());
    }

    /**
     * Called first thing by every main(String[]) loaded while there are arguments to pass: the
     * launcher's empty array is replaced by them, once; any later call keeps its own.
     */
    public static String[] args(String[] given) {
        String[] pending = programArgs;
        if (pending == null || given == null || given.length != 0) {
            return given;
        }
        synchronized (WarmRun.class) {
            pending = programArgs;
            programArgs = null;
        }
        return pending == null ? given : pending;
    }

    /** Each element followed by one NUL; null if the message is not that. */
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

    /** Puts `args = WarmRun.args(args);` at the start of each static main(String[]). */
    private static final class ArgsTransformer implements ClassFileTransformer {
        @Override
        public byte[] transform(ClassLoader loader, String name, Class<?> redefined,
                                ProtectionDomain domain, byte[] bytes) {
            if (loader == null || loader != ClassLoader.getSystemClassLoader() || programArgs == null) {
                return null;
            }
            try {
                return (byte[]) rewrite.invoke(null, (Object) bytes);
            } catch (ReflectiveOperationException | RuntimeException e) {
                return null;  // a class ASM cannot read is left to the JVM, which says why
            }
        }
    }
}
