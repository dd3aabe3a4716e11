/* Tiny shim between the worker and bwrap, so the worker can spawn with vfork (no Python
 * preexec_fn, which forces a full fork). As root it joins the step's cgroups, sets rlimits, drops
 * to the sandbox user, starts bwrap and reaps every process of the step (see reap_all).
 * usage: launcher UID GID CGROUP_FDS RLIMITS -- BWRAP ARGS...
 *   CGROUP_FDS: comma-separated open cgroup.procs descriptors ("-" for none)
 *   RLIMITS:    comma-separated RESOURCE=VALUE pairs (numbers from <sys/resource.h>)
 * or:    launcher --armed CGROUP_FDS CTL_FD
 *   Armed ahead of its step (see armed.py): joins the cgroups now, because on cgroup v1 each join
 *   waits for an RCU grace period (5-10 ms per hierarchy), writes "R" to the control socket, then
 *   blocks until the step starts. The go message is a native uint32 length followed by that many
 *   bytes of NUL-terminated fields: FLAGS ("m": stderr into stdout, else "-"), UID, GID (those of
 *   the slot that takes it, unknown at arm time), RLIMITS, then bwrap's argv; it carries the
 *   step's stdin as an SCM_RIGHTS descriptor. End of file instead means disarmed (or the worker
 *   died): exit quietly. FLAGS "w" (a warm sandbox, see pool.py): two more descriptors follow
 *   stdin, the warm program's control and ready pipes, which the command gets as fds 3 and 4. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_MESSAGE (1u << 20)

static void die(const char *what) {
    perror(what);
    _exit(127);
}

static void join_cgroups(char *fds) {
    if (strcmp(fds, "-") == 0) return;
    for (char *tok = strtok(fds, ","); tok; tok = strtok(NULL, ",")) {
        int fd = atoi(tok);
        if (write(fd, "0", 1) != 1) die("launcher: join cgroup");
        close(fd); /* never let the sandbox inherit it */
    }
}

static void set_rlimits(char *limits) {
    if (strcmp(limits, "-") == 0) return;
    for (char *tok = strtok(limits, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (!eq) die("launcher: bad rlimit");
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = strtoull(eq + 1, NULL, 10);
        if (setrlimit(atoi(tok), &rl) != 0) die("launcher: setrlimit");
    }
}

/* Waits for every process of the step, then exits with bwrap's status (a signal as 128+N).
 * bwrap's outer process exits as soon as its pid-1 init reports the command's status, leaving
 * the init to whoever adopts it: as the step's subreaper that is us, and since the kernel adds a
 * reaped process's rusage and I/O counters to its reaper's, ours then cover every process of the
 * step (the worker reads them from our zombie: sandbox/spawn.py Usage). */
static void reap_all(pid_t bwrap) {
    /* hold nothing of the step's: its pipes close when its last process exits, not with us */
    if (close_range(0, ~0U, 0) != 0) _exit(127);
    int status = 0, st;
    for (;;) {
        pid_t pid = waitpid(-1, &st, __WALL);
        if (pid == bwrap) status = st;
        if (pid < 0) {
            if (errno == EINTR) continue;
            break; /* ECHILD: the last one is gone */
        }
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static void drop_and_exec(uid_t uid, gid_t gid, char **command) {
    if (setgroups(0, NULL) != 0) die("launcher: setgroups");
    if (setresgid(gid, gid, gid) != 0) die("launcher: setresgid");
    if (setresuid(uid, uid, uid) != 0) die("launcher: setresuid");
    if (getuid() != uid || geteuid() != uid) die("launcher: uid did not change");
    /* after the uid change, which clears it: die with the worker */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) die("launcher: subreaper");
    pid_t self = getpid();
    pid_t bwrap = fork();
    if (bwrap < 0) die("launcher: fork");
    if (bwrap > 0) reap_all(bwrap);
    /* bwrap dies with us (its --die-with-parent), and we with the worker */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != self) _exit(127);
    execv(command[0], command);
    die("launcher: exec");
}

/* A warm sandbox's control and ready pipes at fds 3 and 4, where its program looks for them. The
 * worker passes every descriptor bwrap needs above 4 (armed.py: _off_3_4), so only these two and
 * stdin's old number can be there. */
static void place_warm_fds(int ctl_fd, int ready_fd) {
    int want[2] = {3, 4}, have[2] = {ctl_fd, ready_fd};
    for (int i = 0; i < 2; i++) /* first move both out of 3 and 4, so neither clobbers the other */
        if (have[i] <= 4 && (have[i] = fcntl(have[i], F_DUPFD_CLOEXEC, 5)) < 0) die("launcher: dup");
    for (int i = 0; i < 2; i++) {
        if (dup2(have[i], want[i]) != want[i]) die("launcher: warm fd");
        close(have[i]);
    }
}

/* Reads exactly len bytes; 0 on end of file before the first byte. */
static int read_full(int fd, char *buf, size_t len, size_t done) {
    while (done < len) {
        ssize_t n = read(fd, buf + done, len - done);
        if (n == 0 && done == 0) return 0;
        if (n <= 0) die("launcher: short go message");
        done += (size_t)n;
    }
    return 1;
}

static int armed(char **argv) {
    int ctl = atoi(argv[3]);
    join_cgroups(argv[2]);
    /* Unanswered if the go message came first and the worker already closed its end (a warm
     * sandbox's): the message is still there to read. A worker gone leaves end of file. */
    (void)send(ctl, "R", 1, MSG_NOSIGNAL);

    uint32_t len = 0;
    int fds[3] = {-1, -1, -1}, nfds = 0;
    union { char buf[CMSG_SPACE(3 * sizeof(int))]; struct cmsghdr align; } control;
    struct iovec iov = {.iov_base = &len, .iov_len = sizeof(len)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    ssize_t n = recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC);
    if (n == 0) _exit(0); /* disarmed */
    if (n < 0) die("launcher: recvmsg");
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        if (c->cmsg_len == CMSG_LEN(sizeof(int))) nfds = 1;
        else if (c->cmsg_len == CMSG_LEN(3 * sizeof(int))) nfds = 3;
        memcpy(fds, CMSG_DATA(c), (size_t)nfds * sizeof(int));
    }
    int stdin_fd = fds[0];
    if (stdin_fd < 0 || (msg.msg_flags & MSG_CTRUNC)) die("launcher: no stdin in go message");
    read_full(ctl, (char *)&len, sizeof(len), (size_t)n);
    if (len == 0 || len > MAX_MESSAGE) die("launcher: bad go message length");
    char *buf = malloc(len);
    if (!buf) die("launcher: malloc");
    read_full(ctl, buf, len, 0);
    close(ctl);
    if (buf[len - 1] != '\0') die("launcher: unterminated go message");

    size_t fields = 0;
    for (uint32_t i = 0; i < len; i++) fields += buf[i] == '\0';
    if (fields < 5) die("launcher: go message without a command");
    char **field = calloc(fields + 1, sizeof(char *));
    if (!field) die("launcher: calloc");
    char *p = buf;
    for (size_t i = 0; i < fields; i++) {
        field[i] = p;
        p += strlen(p) + 1;
    }
    if (dup2(stdin_fd, 0) != 0) die("launcher: stdin");
    close(stdin_fd);
    if ((strchr(field[0], 'w') != NULL) != (nfds == 3)) die("launcher: warm flag without fds");
    if (nfds == 3) place_warm_fds(fds[1], fds[2]);
    if (strchr(field[0], 'm') && dup2(1, 2) != 2) die("launcher: merge stderr");
    char *end_uid, *end_gid;
    uid_t uid = (uid_t)strtoul(field[1], &end_uid, 10);
    gid_t gid = (gid_t)strtoul(field[2], &end_gid, 10);
    /* never root: a malformed field must not leave the step privileged */
    if (*end_uid || *end_gid || uid == 0 || gid == 0) die("launcher: bad uid or gid");
    set_rlimits(field[3]);
    drop_and_exec(uid, gid, field + 4);
    return 127;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--armed") == 0) return armed(argv);
    if (argc < 7 || strcmp(argv[5], "--") != 0) {
        fprintf(stderr, "usage: launcher UID GID CGROUP_FDS RLIMITS -- CMD...\n"
                        "       launcher --armed CGROUP_FDS CTL_FD\n");
        return 127;
    }
    uid_t uid = (uid_t)strtoul(argv[1], NULL, 10);
    gid_t gid = (gid_t)strtoul(argv[2], NULL, 10);
    if (uid == 0 || gid == 0) die("launcher: bad uid or gid");
    join_cgroups(argv[3]);
    set_rlimits(argv[4]);
    drop_and_exec(uid, gid, argv + 6);
    return 127;
}
