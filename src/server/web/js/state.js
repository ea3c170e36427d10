/*
 * What several screens share between events: the token, the operation
 * list, the images on the page, the pipeline's edit revision and its last
 * check. State that one screen alone needs lives in that screen's module.
 */

export const state = {
    token: null,         /* bearer token, or null when signed out */
    ops: [],             /* GET /operations */
    uploads: [],         /* {key, file, image, element, url, use, info} */
    nextUid: 1,          /* for unique element ids */
    revision: 0,         /* bumped on each pipeline/output edit */
    checked: null,       /* {revision, text, pipeline, output} from /pipelines/validate */
};
