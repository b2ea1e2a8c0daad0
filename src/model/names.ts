// The one rule for names of nodes, stacks and resources: lowercase letters, digits and '-'.
// Container names join them with '_', which this rule keeps unambiguous.
export const RESOURCE_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
export const RESOURCE_NAME_MAX = 40;
