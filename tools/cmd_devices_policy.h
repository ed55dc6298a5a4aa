/* The policy and settings views of `clipcl devices` (cmd_devices_policy.c). */
#ifndef CLIPCL_TOOLS_CMD_DEVICES_POLICY_H
#define CLIPCL_TOOLS_CMD_DEVICES_POLICY_H

#include <json.h>

#include "runtime/rt.h"

/* A context on d whose policy carries the tuned overlay cached for d
 * (caller frees with rt_ctx_free). */
int devices_policy_of(const rt_device_info *d, rt_ctx **out);
/* Every field: name, value, where it came from. */
void devices_print_policy(const rt_device_info *d, const rt_policy *p);
/* {"field": {"value", "source", "from"[, "env"]}, ...} */
json_object *devices_policy_json(const rt_policy *p);
/* Every CLIPCL_* variable with its meaning and, when set, its value. */
void devices_print_settings(int json);

#endif
