-- Argo CD health check for ssmcontacts.oncall.dev/ContactChannelActivation.
-- Install it as resource.customizations.health.ssmcontacts.oncall.dev_ContactChannelActivation
-- (see argocd-cm-patch.yaml, which embeds this file verbatim; test_health.py checks both).
--
-- Order matters: a status written for an older generation says nothing about the current
-- spec, so staleness is checked first; Stalled (a person must act) wins over everything else.

local function condition(conditions, type_)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function message_of(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

local hs = {}
local status = obj.status
local generation = obj.metadata and obj.metadata.generation or nil

if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to pick up this object"
  return hs
end

if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local conditions = status.conditions
local stalled = condition(conditions, "Stalled")
local reconciling = condition(conditions, "Reconciling")
local codeSent = condition(conditions, "CodeSent")
local ready = condition(conditions, "Ready")

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = message_of(stalled, stalled.reason or "Stalled")
  return hs
end

if codeSent ~= nil and codeSent.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = message_of(codeSent, "Suspended: no activation code is sent while spec.suspend is true")
  return hs
end

if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = message_of(reconciling, reconciling.reason or "Reconciling")
  return hs
end

if codeSent ~= nil and codeSent.reason == "Pending" then
  hs.status = "Progressing"
  hs.message = message_of(codeSent, "Activation code not sent yet")
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message_of(ready, "Activation code sent")
  return hs
end

hs.status = "Progressing"
hs.message = message_of(ready, "Waiting for the Ready condition")
return hs
