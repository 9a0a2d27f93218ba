import { describe, expect, it } from 'vitest';
import { parseNetlinkDrops } from '../src/index.js';

const PROC_NET_NETLINK = `sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
000000005c4d8538 0   0          00000000 0        0        0     2        0        4
00000000aaaa0001 12  4242       00000000 0        0        0     2        17       90001
00000000aaaa0002 12  777        00000000 0        0        0     2        5        90002
00000000aaaa0003 9   4242       00000000 0        0        0     2        3        90003
`;

describe('parseNetlinkDrops', () => {
  it("sums the Drops of the capture's NETLINK_NETFILTER sockets only (by inode)", () => {
    expect(parseNetlinkDrops(PROC_NET_NETLINK, new Set(['90001']))).toBe(17);
    // another process's netfilter socket (nft) and another protocol with a matching inode do not count
    expect(parseNetlinkDrops(PROC_NET_NETLINK, new Set(['90001', '90003']))).toBe(17);
    expect(parseNetlinkDrops(PROC_NET_NETLINK, new Set(['90001', '90002']))).toBe(22);
    expect(parseNetlinkDrops(PROC_NET_NETLINK, new Set())).toBe(0);
  });
});
