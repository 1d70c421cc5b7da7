/*
 * host-ipmisim.h - BmcLoop on ipmi_sim's event loop.
 */
#pragma once

#include <OpenIPMI/serv.h>

#include "loop.h"

/* Lives as long as ipmi_sim. */
BmcLoop *bmc_host_loop_new(sys_data_t *sys);
