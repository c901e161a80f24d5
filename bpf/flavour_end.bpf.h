/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Ends one flavour of a handler (see read.bpf.h): undefines every flavour macro, so the
 * next flavour starts clean. No include guard: it is included after each flavour.
 */
#undef IPCT_RD
#undef IPCT_FN
#undef IPCT_UNIX_SK
#undef IPCT_CURRENT_TASK
#undef IPCT_AS
#undef IPCT_FRD
#undef IPCT_SOCK_KEY
#undef IPCT_WAIT_START
#undef IPCT_WAIT_TAKE
#undef IPCT_ENTRY_CLASSIFY
#undef IPCT_FD_SLOT
#undef IPCT_CGROUP_ID
#undef IPCT_IS_SELF
