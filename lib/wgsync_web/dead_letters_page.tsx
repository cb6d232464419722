/** @jsxImportSource hono/jsx */
/**
 * The dead letters of each remctl target; admins select messages to redrive
 * or delete (one form, two buttons).
 *
 * @module
 */
import type { DeadLetter } from "./dead_letters.ts";
import { CsrfField, Page, type PageContext } from "./layout.tsx";

/** One target's dead letters, or why they cannot be read. */
export interface TargetLetters {
  name: string;
  letters?: DeadLetter[];
  error?: string;
}

/** The dead letters page. */
export function DeadLettersPage(
  props: { context: PageContext; targets: TargetLetters[] },
) {
  const { context } = props;
  const admin = context.viewer.admin !== undefined;
  return (
    <Page title="Dead letters" page="dead-letters" context={context}>
      {props.targets.length === 0 && (
        <p>No remctl targets are configured ([web].targets).</p>
      )}
      <p>
        Looking receives each message once (SQS has no peek): its receive count
        goes up by one.
      </p>
      {props.targets.map((target) => (
        <section class="target" data-target={target.name}>
          <h2>Target {target.name}</h2>
          {target.error && <p class="warning">{target.error}</p>}
          {target.letters !== undefined && target.letters.length === 0 && (
            <p>No dead letters.</p>
          )}
          {target.letters !== undefined && target.letters.length > 0 && (
            <form method="post" action="/dead-letters/action">
              {admin && <CsrfField context={context} />}
              <input type="hidden" name="target" value={target.name} />
              <table class="dead-letters">
                <thead>
                  <tr>
                    {admin && <th>select</th>}
                    <th>workgroup</th>
                    <th>type</th>
                    <th>reason</th>
                    <th>receive count</th>
                    <th>sent</th>
                    <th>body</th>
                  </tr>
                </thead>
                <tbody>
                  {target.letters.map((letter) => (
                    <tr data-message={letter.messageId}>
                      {admin && (
                        <td>
                          <input
                            type="checkbox"
                            name="message"
                            value={letter.messageId}
                          />
                        </td>
                      )}
                      <td>{letter.workgroup || letter.groupId}</td>
                      <td>{letter.type}</td>
                      <td>
                        {letter.reason ??
                          "none recorded: moved by SQS after failed runs (their output is in wgsync-remctl's journal under the event id)"}
                      </td>
                      <td>{letter.receiveCount}</td>
                      <td>{letter.sentAt ?? ""}</td>
                      <td>
                        <code>{letter.preview}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {admin && (
                <p class="controls">
                  <button type="submit" name="action" value="redrive">
                    Redrive selected
                  </button>
                  <button type="submit" name="action" value="redrive-all">
                    Redrive all
                  </button>
                  <button type="submit" name="action" value="delete">
                    Delete selected
                  </button>
                </p>
              )}
            </form>
          )}
        </section>
      ))}
    </Page>
  );
}
