//! A seccomp filter that refuses network sockets to a run without network.
//!
//! Landlock (ABI 4 and later) denies TCP `bind` and `connect`, but not UDP, raw or packet
//! sockets: a sandboxed command could still send DNS queries or datagrams anywhere. This
//! filter makes `socket(AF_INET | AF_INET6 | AF_PACKET, …)` fail with `EACCES`, and refuses
//! `io_uring_setup` (io_uring can open sockets without the `socket` syscall) and, on x86-64,
//! the x32 syscall numbers and foreign architectures, which would bypass the check. UNIX
//! and netlink sockets stay available: they do not leave the machine.
//!
//! The program is a constant, so installing it in the child needs no allocation.

use std::io;

/// `offsetof(struct seccomp_data, nr)`, `arch`, `args[0]` (its low half on little-endian).
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0: u32 = 16;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// x32 syscalls on x86-64 carry this bit; the filter refuses them all.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const LOAD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const REFUSE: u32 = libc::SECCOMP_RET_ERRNO | (libc::EACCES as u32 & libc::SECCOMP_RET_DATA);

const fn op(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Jumps are relative: `jt`/`jf` skip that many instructions. The last instruction refuses.
const FILTER: [libc::sock_filter; 13] = [
    op(LOAD, 0, 0, ARCH),
    op(JEQ, 0, 10, AUDIT_ARCH), // a foreign architecture: refuse
    op(LOAD, 0, 0, NR),
    op(JGE, 8, 0, X32_SYSCALL_BIT), // x32: refuse
    op(JEQ, 2, 0, libc::SYS_socket as u32),
    op(JEQ, 6, 0, libc::SYS_io_uring_setup as u32),
    op(RET, 0, 0, ALLOW),
    op(LOAD, 0, 0, ARG0),
    op(JEQ, 3, 0, libc::AF_INET as u32),
    op(JEQ, 2, 0, libc::AF_INET6 as u32),
    op(JEQ, 1, 0, libc::AF_PACKET as u32),
    op(RET, 0, 0, ALLOW),
    op(RET, 0, 0, REFUSE),
];

/// Installs the filter on the calling thread (the child, after `PR_SET_NO_NEW_PRIVS`).
/// Async-signal-safe: one syscall on a constant program.
pub(crate) fn deny_network_sockets() -> io::Result<()> {
    let program = libc::sock_fprog {
        len: FILTER.len() as u16,
        filter: FILTER.as_ptr().cast_mut(),
    };
    // SAFETY: `program` points at a live, well-formed BPF program; the kernel copies it.
    let result = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &program as *const libc::sock_fprog,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every jump lands inside the program, and the refusals land on the refusing return.
    #[test]
    fn jumps_stay_inside_the_program() {
        let last = FILTER.len() - 1;
        assert_eq!(FILTER[last].k, REFUSE);
        for (at, instruction) in FILTER.iter().enumerate() {
            if instruction.code == JEQ || instruction.code == JGE {
                for skip in [instruction.jt, instruction.jf] {
                    assert!(at + 1 + usize::from(skip) <= last, "instruction {at}");
                }
            }
        }
        // The refusing targets: foreign arch, x32, io_uring, and the three families.
        for (at, skip) in [(1, FILTER[1].jf), (3, FILTER[3].jt), (5, FILTER[5].jt)] {
            assert_eq!(at + 1 + usize::from(skip), last, "instruction {at}");
        }
        for (at, family) in FILTER.iter().enumerate().take(11).skip(8) {
            assert_eq!(at + 1 + usize::from(family.jt), last, "instruction {at}");
        }
        assert_eq!(
            4 + 1 + usize::from(FILTER[4].jt),
            7,
            "socket goes to the family check"
        );
    }
}
