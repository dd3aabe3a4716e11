/* Tiny exec shim between the worker and bwrap, so the worker can spawn with vfork (no Python
 * preexec_fn, which forces a full fork). As root it joins the step's cgroups, sets rlimits, drops
 * to the sandbox user and execs bwrap.
 * usage: launcher UID GID CGROUP_FDS RLIMITS -- BWRAP ARGS...
 *   CGROUP_FDS: comma-separated open cgroup.procs descriptors ("-" for none)
 *   RLIMITS:    comma-separated RESOURCE=VALUE pairs (numbers from <sys/resource.h>) */
#define _GNU_SOURCE
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static void die(const char *what) {
    perror(what);
    _exit(127);
}

int main(int argc, char **argv) {
    if (argc < 7 || strcmp(argv[5], "--") != 0) {
        fprintf(stderr, "usage: launcher UID GID CGROUP_FDS RLIMITS -- CMD...\n");
        return 127;
    }
    uid_t uid = (uid_t)strtoul(argv[1], NULL, 10);
    gid_t gid = (gid_t)strtoul(argv[2], NULL, 10);
    if (strcmp(argv[3], "-") != 0) {
        for (char *tok = strtok(argv[3], ","); tok; tok = strtok(NULL, ",")) {
            int fd = atoi(tok);
            if (write(fd, "0", 1) != 1) die("launcher: join cgroup");
            close(fd); /* never let the sandbox inherit it */
        }
    }
    if (strcmp(argv[4], "-") != 0) {
        for (char *tok = strtok(argv[4], ","); tok; tok = strtok(NULL, ",")) {
            char *eq = strchr(tok, '=');
            if (!eq) die("launcher: bad rlimit");
            struct rlimit rl;
            rl.rlim_cur = rl.rlim_max = strtoull(eq + 1, NULL, 10);
            if (setrlimit(atoi(tok), &rl) != 0) die("launcher: setrlimit");
        }
    }
    if (setgroups(0, NULL) != 0) die("launcher: setgroups");
    if (setresgid(gid, gid, gid) != 0) die("launcher: setresgid");
    if (setresuid(uid, uid, uid) != 0) die("launcher: setresuid");
    if (getuid() != uid || geteuid() != uid) die("launcher: uid did not change");
    /* after the uid change, which clears it: die with the worker */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    execv(argv[6], argv + 6);
    die("launcher: exec");
}
