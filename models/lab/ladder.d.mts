export declare const LADDER: { name: string; kbps: number }[];
