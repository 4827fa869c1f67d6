// Package iscsi is SIDUS-Go's iSCSI initiator for the init's aufs=iscsi mode:
// each diskless node logs in to its own LUN (named after its IP address) and
// mounts the filesystem labelled ISCSI on it as the overlay's writable layer.
//
// The package is split so that almost all of it is pure and unit-tested:
//
//   - params.go: the open-iscsi ISCSI_* parameters, their dracut (rd.iscsi.*)
//     and lower-case aliases, /etc/iscsi.initramfs files,
//     and %i/%h/%m template expansion.
//   - chap.go: CHAP (RFC 1994 / RFC 7143 section 12.1.3) with MD5, one-way and mutual.
//   - pdu.go: Basic Header Segment encode/decode and text key=value data.
//   - login.go: the login state machine (security negotiation, operational
//     negotiation, full feature phase) over a Transport.
//   - discovery.go: a SendTargets=All discovery session over plain TCP, and
//     SIDUS target selection.
//   - scan.go: waiting for a session's block devices in sysfs.
//   - session_linux.go: the kernel session (iscsi_tcp via NETLINK_ISCSI, using
//     github.com/u-root/iscsinl's netlink plumbing) and Login.
//
// Secrets (SecretKeys: ISCSI_PASSWORD, ISCSI_IN_PASSWORD; see IsSecret)
// never appear in errors, logs, String() output or state files.
//
// A target is not trusted to be well-behaved: login and SendTargets
// answers are bounded in PDUs and bytes (maxLoginResponsePDUs,
// maxLoginText, maxSendTargetsPDUs, maxSendTargetsText).
package iscsi
