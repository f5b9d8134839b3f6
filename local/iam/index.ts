// AWS's authorization rules for local mode, as pure logic: the template's IAM (roles, trust and
// resource policies), the evaluator over it, SigV4 verification, requests → (action, resource,
// condition keys), and AccessDenied in each service's wire shape. No servers and no I/O here;
// local/cloud wires these into the AWS endpoint, the gateway, Step Functions and Lambda.
export * from './aws-errors';
export * from './aws-requests';
export * from './iam-authorizer';
export * from './iam-model';
export * from './local-credentials';
export * from './sigv4-verifier';
