package runbox.warm;

import java.io.ByteArrayOutputStream;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Field;
import jdk.internal.org.objectweb.asm.ClassReader;
import jdk.internal.org.objectweb.asm.ClassVisitor;
import jdk.internal.org.objectweb.asm.ClassWriter;
import jdk.internal.org.objectweb.asm.MethodVisitor;
import jdk.internal.org.objectweb.asm.Opcodes;

/**
 * The part of WarmRun that needs the JDK's internals: java.io's FileDescriptor (to read and close
 * fd 3) and java.base's copy of ASM (to rewrite main). WarmRun loads it in a class loader of its
 * own and opens those to that loader's unnamed module only, so the program's classes (in the
 * class path's unnamed module) see the JDK as closed as in a cold run. It refers to no other
 * class of the warm programs.
 */
public final class WarmRunInternals {
    private WarmRunInternals() {}

    /**
     * The protocol's ready byte written to the descriptor after `number` (the ready pipe, fd 4),
     * which is closed; then `number` read to its end and closed.
     */
    public static byte[] readControl(int number) throws ReflectiveOperationException, IOException {
        Field field = FileDescriptor.class.getDeclaredField("fd");
        field.setAccessible(true);
        FileDescriptor readyFd = new FileDescriptor();
        field.setInt(readyFd, number + 1);
        try (OutputStream ready = new FileOutputStream(readyFd)) {
            ready.write('R');
        }
        FileDescriptor fd = new FileDescriptor();
        field.setInt(fd, number);
        ByteArrayOutputStream message = new ByteArrayOutputStream();
        // Not readAllBytes: on JDK 17 it asks a pipe for its position and fails.
        try (InputStream control = new FileInputStream(fd)) {
            byte[] buffer = new byte[8192];
            for (int n; (n = control.read(buffer)) > 0; ) {
                message.write(buffer, 0, n);
            }
        }
        return message.toByteArray();
    }

    /**
     * The class with `args = WarmRun.args(args);` put at the start of each static
     * main(String[]), or null if it has none.
     */
    public static byte[] rewrite(byte[] bytes) {
        ClassReader reader = new ClassReader(bytes);
        boolean[] changed = {false};
        ClassWriter writer = new ClassWriter(reader, ClassWriter.COMPUTE_MAXS);
        reader.accept(new ClassVisitor(Opcodes.ASM8, writer) {
            @Override
            public MethodVisitor visitMethod(int access, String method, String descriptor,
                                             String signature, String[] exceptions) {
                MethodVisitor next = super.visitMethod(access, method, descriptor, signature, exceptions);
                if (!method.equals("main") || !descriptor.equals("([Ljava/lang/String;)V")
                        || (access & Opcodes.ACC_STATIC) == 0 || (access & Opcodes.ACC_ABSTRACT) != 0) {
                    return next;
                }
                changed[0] = true;
                return new MethodVisitor(Opcodes.ASM8, next) {
                    @Override
                    public void visitCode() {
                        super.visitCode();
                        super.visitVarInsn(Opcodes.ALOAD, 0);
                        super.visitMethodInsn(Opcodes.INVOKESTATIC, "runbox/warm/WarmRun", "args",
                                              "([Ljava/lang/String;)[Ljava/lang/String;", false);
                        super.visitVarInsn(Opcodes.ASTORE, 0);
                    }
                };
            }
        }, 0);
        return changed[0] ? writer.toByteArray() : null;
    }
}
