import { randomUUID } from 'node:crypto';
import type { Caller, IamAuthorizer } from '../iam/iam-authorizer';

/** A message published to a topic, as a subscriber (e-mail, a queue) would receive it. */
export interface PublishedMessage {
  topicArn: string;
  subject?: string;
  message: string;
  messageId: string;
  /** Who published: the principal, or the service (cloudwatch.amazonaws.com). */
  publishedBy: string;
}

/** A topic does not exist (SNS answers NotFound). */
export class TopicNotFoundError extends Error {
  constructor(topicArn: string) {
    super(`Topic does not exist: ${topicArn}`);
    this.name = 'NotFound';
  }
}

/**
 * SNS on this machine, for the stack's topics: a publish is authorized like SNS authorizes it
 * (sns:Publish by the caller's policies and the topic policy; for an encrypted topic also
 * kms:GenerateDataKey and kms:Decrypt by the caller's policies and the key policy) and then
 * delivered to the sink, which stands for the topic's subscribers.
 */
export class LocalSns {
  constructor(
    private readonly topics: ReadonlySet<string>,
    private readonly authorizer: IamAuthorizer,
    private readonly deliver: (message: PublishedMessage) => void,
  ) {}

  /** @throws AccessDeniedError when the caller may not publish or use the topic's key; TopicNotFoundError for an unknown topic. */
  async publish(caller: Caller, topicArn: string, message: string, subject?: string): Promise<string> {
    if (!this.topics.has(topicArn)) throw new TopicNotFoundError(topicArn);
    const context: Record<string, string> = caller.kind === 'service' && caller.sourceArn ? { 'aws:SourceArn': caller.sourceArn } : {};
    await this.authorizer.authorize(caller, { action: 'sns:Publish', resource: topicArn, context });
    await this.authorizer.authorizeKeyUse(caller, topicArn, ['kms:GenerateDataKey', 'kms:Decrypt'], 'sns.us-east-1.amazonaws.com');
    const messageId = randomUUID();
    this.deliver({ topicArn, ...(subject ? { subject } : {}), message, messageId, publishedBy: this.authorizer.principalOf(caller) });
    return messageId;
  }
}
