-- Ceph RGW "prerequest" script, installed by scripts/ceph-rgw.sh on every start: refuses what AWS S3
-- refuses for the stack's bucket and RGW would otherwise store.
--
--   * ObjectOwnership BucketOwnerEnforced (the template's backup bucket): ACLs are disabled. A request
--     that sets an ACL other than bucket-owner-full-control (x-amz-acl, any x-amz-grant-* header, a
--     PutObjectAcl/PutBucketAcl body) fails with 400 AccessControlListNotSupported, as on AWS
--     (https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html). RGW keeps
--     such ACLs, and only the public access block's IgnorePublicAcls keeps the object private.
--   * x-amz-tagging on PutObject, CreateMultipartUpload and CopyObject needs s3:PutObjectTagging as
--     well on AWS (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html), and the
--     x-amz-object-lock-* headers s3:PutObjectRetention / s3:PutObjectLegalHold; RGW checks
--     s3:PutObject only. No role local mode copies into RGW has any of them (local/cloud/rgw-iam.ts
--     refuses to sync one that has), so an STS session's upload carrying them is refused with 403
--     AccessDenied. Requests without
--     a session token are local mode's AWS endpoint forwarding a function's call as the bucket owner:
--     that endpoint has already evaluated s3:PutObjectTagging against the function's own role.
--   * Browser-form POST uploads: their acl, x-amz-grant-* and tagging fields are in the body, which is
--     read after this script runs, so they could not be checked. Nothing in the stack uses them:
--     refused (403 AccessDenied), never stored unchecked.
--
-- Request.HTTP.Metadata is RGW's map of every x-amz-* request header, names in lower case.
local headers = Request.HTTP.Metadata
local op = Request.RGWOp

local function refuse(status, code, message)
  Request.Response.HTTPStatusCode = status
  Request.Response.HTTPStatus = code
  Request.Response.Message = message
  return RGW_ABORT_REQUEST
end

local NO_ACLS = "The bucket does not allow ACLs"

if op == "post_obj" then
  return refuse(403, "AccessDenied", "Browser-form POST uploads are not accepted here: their acl and tagging fields cannot be checked (use PUT)")
end

local acl = headers["x-amz-acl"]
if acl ~= nil and acl ~= "bucket-owner-full-control" then
  return refuse(400, "AccessControlListNotSupported", NO_ACLS)
end
for _, grant in ipairs({ "x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp", "x-amz-grant-write-acp", "x-amz-grant-full-control" }) do
  if headers[grant] ~= nil then
    return refuse(400, "AccessControlListNotSupported", NO_ACLS)
  end
end
-- PutObjectAcl / PutBucketAcl with the ACL in an XML body (only the canned bucket-owner-full-control is accepted).
if op == "put_acls" and acl == nil then
  return refuse(400, "AccessControlListNotSupported", NO_ACLS)
end

local session = headers["x-amz-security-token"] ~= nil or Request.HTTP.Parameters["X-Amz-Security-Token"] ~= nil
if session then
  -- What an upload's headers set beyond s3:PutObject, and the action AWS requires for it.
  for header, action in pairs({
    ["x-amz-tagging"] = "s3:PutObjectTagging",
    ["x-amz-object-lock-mode"] = "s3:PutObjectRetention",
    ["x-amz-object-lock-retain-until-date"] = "s3:PutObjectRetention",
    ["x-amz-object-lock-legal-hold"] = "s3:PutObjectLegalHold",
  }) do
    if headers[header] ~= nil then
      return refuse(403, "AccessDenied", "Access Denied: " .. header .. " needs " .. action .. ", which this session does not have")
    end
  end
end

return 0
