/*
 * A program the specs start to run another without one system call, as on
 * an older kernel, under a container's seccomp policy or under stricter
 * ptrace rules (Yama's ptrace_scope 1 refuses process_vm_readv on any
 * process but a descendant).
 *
 *   deny CALL ENOSYS|EPERM PROGRAM [ARG...]
 *
 * CALL: pidfd_open or process_vm_readv. Installs a seccomp filter under
 * which CALL fails with that error (every other system call is allowed),
 * then runs PROGRAM. The filter is inherited by everything PROGRAM starts.
 * Exits 3 when the filter cannot be installed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define ARCH AUDIT_ARCH_I386
#endif

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int main(int argc, char **argv) {
  unsigned err;
  long nr;
  if (argc < 4) {
    fprintf(stderr,
            "usage: deny pidfd_open|process_vm_readv ENOSYS|EPERM PROGRAM "
            "[ARG...]\n");
    return 2;
  }
  if (strcmp(argv[1], "pidfd_open") == 0) nr = SYS_pidfd_open;
  else if (strcmp(argv[1], "process_vm_readv") == 0) nr = SYS_process_vm_readv;
  else {
    fprintf(stderr, "deny: unknown call %s\n", argv[1]);
    return 2;
  }
  if (strcmp(argv[2], "ENOSYS") == 0) err = ENOSYS;
  else if (strcmp(argv[2], "EPERM") == 0) err = EPERM;
  else {
    fprintf(stderr, "deny: unknown error %s\n", argv[2]);
    return 2;
  }
  {
    struct sock_filter code[] = {
#ifdef ARCH
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
#endif
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog;
    prog.len = (unsigned short)(sizeof code / sizeof code[0]);
    prog.filter = code;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
      fprintf(stderr, "deny: seccomp: %s\n", strerror(errno));
      return 3;
    }
  }
  execvp(argv[3], argv + 3);
  fprintf(stderr, "deny: %s: %s\n", argv[3], strerror(errno));
  return 127;
}
