import { IamAuthorizer } from '../../local/iam/iam-authorizer';
import { type IssuedCredentials, LocalCredentials } from '../../local/iam/local-credentials';

/**
 * The local gateway's access for @connections tests: an IAM authorizer without roles or resource
 * policies, the credential store, and `manager`, a user allowed execute-api:ManageConnections on
 * every stage and connection of the API "local" (the message function's right in the stack).
 */
export function connectionsAccess(): {
  authorizer: IamAuthorizer;
  credentials: LocalCredentials;
  manager: IssuedCredentials;
} {
  const authorizer = new IamAuthorizer({ roles: new Map(), resourcePolicies: new Map(), encryptionKeys: new Map() });
  const credentials = new LocalCredentials();
  const manager = credentials.addUser({
    kind: 'user',
    arn: 'arn:aws:iam::000000000000:user/manager',
    policies: [
      {
        name: 'manage',
        policy: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'execute-api:ManageConnections',
              Resource: 'arn:aws:execute-api:us-east-1:000000000000:local/*/*/@connections/*',
            },
          ],
        },
      },
    ],
  });
  return { authorizer, credentials, manager };
}
